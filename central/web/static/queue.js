// The phone's live queue page: each change the puskesmas makes is pushed here (server-sent events,
// central.streams) and the page redraws itself; nothing reloads. Without this script the page
// still shows the queue as it was when loaded.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.EventSource) { return; }
  var number = (root.dataset.number || "").toUpperCase();
  var status = document.getElementById("live-status");
  var body = document.getElementById("live-body");
  var last = null;
  var wasCalled = false;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function strong(parent, text) { parent.appendChild(el("strong", null, text)); }
  function words(parent, text) { parent.appendChild(document.createTextNode(text)); }

  // the same words as central.queue_view.estimate_words (and the ticket, and the TV)
  function perkiraan(r) {
    if (!r || r.length !== 2) { return ""; }
    if (r[0] >= 120) { return "perkiraan lebih dari 2 jam"; }
    if (r[0] <= 0) { return "perkiraan kurang dari " + r[1] + " menit"; }
    return "perkiraan " + r[0] + "–" + r[1] + " menit";
  }

  // where ``number`` is on the board: the same rules as central.queue_view.place_of
  function placeOf(b) {
    if (!number || !b.available) { return null; }
    for (var i = 0; i < b.called.length; i++) {
      if (b.called[i].label === number) { return { calledTo: b.called[i].destination }; }
    }
    for (var j = 0; j < b.queues.length; j++) {
      var q = b.queues[j];
      var ahead = q.waiting.indexOf(number);
      if (ahead >= 0) {
        var est = (q.estimates || [])[ahead] || null;
        return { queue: q.name, ahead: ahead, estimate: est };
      }
    }
    return null;
  }

  function showStatus(b, connected) {
    status.classList.toggle("live-off", !connected || (b && b.available && !b.online));
    if (!connected) {
      status.textContent = "Koneksi terputus, menyambung ulang…" + (b && b.updated ? " Data terakhir pukul " + b.updated + "." : "");
    } else if (!b.available) {
      status.textContent = "Belum ada data antrean hari ini.";
    } else if (b.online) {
      status.textContent = "Data antrean langsung dari puskesmas.";
    } else {
      status.textContent = "Puskesmas sedang tidak terhubung ke server. Data terakhir pukul " + (b.updated || "–") + ".";
    }
  }

  function mine(b) {
    var box = el("div", "my-ticket");
    box.id = "my-place";
    box.appendChild(el("p", "my-label", "Nomor Anda"));
    box.appendChild(el("p", "my-number mono", number));
    var text = el("p", "my-text");
    var at = placeOf(b);
    if (!b.available) {
      words(text, "Menunggu data antrean dari puskesmas.");
    } else if (at && at.calledTo) {
      box.classList.add("my-called");
      strong(text, "Sedang dipanggil");
      words(text, ": silakan menuju " + at.calledTo + ".");
    } else if (at && at.ahead === 0) {
      strong(text, "Berikutnya");
      words(text, " di " + at.queue + ". Bersiaplah di dekat ruangan.");
    } else if (at) {
      words(text, "Ada ");
      strong(text, at.ahead + " orang");
      words(text, " sebelum Anda di " + at.queue + ".");
    } else {
      words(text, "Nomor " + number + " tidak ada di antrean yang sedang menunggu (mungkin sudah dilayani).");
    }
    box.appendChild(text);
    if (at && at.estimate) {
      box.appendChild(el("p", "my-estimate", "Dipanggil " + perkiraan(at.estimate) + " lagi"));
    }
    var called = !!(at && at.calledTo);
    if (called && !wasCalled) {
      document.title = "Dipanggil: " + number;
      if (navigator.vibrate) { try { navigator.vibrate([300, 150, 300]); } catch (e) { /* not allowed */ } }
    }
    wasCalled = called;
    return box;
  }

  function render(b) {
    body.textContent = "";
    if (number) { body.appendChild(mine(b)); }
    if (!b.available) { return; }
    body.appendChild(el("h2", null, "Sedang dipanggil"));
    var called = el("dl", "details");
    called.id = "called";
    b.called.forEach(function (c) {
      var row = el("div");
      row.appendChild(el("dt", null, c.destination));
      row.appendChild(el("dd", "mono", c.label));
      called.appendChild(row);
    });
    if (!b.called.length) { called.appendChild(el("p", "muted", "Tidak ada nomor yang sedang dipanggil.")); }
    body.appendChild(called);
    body.appendChild(el("h2", null, "Menunggu"));
    var waiting = el("dl", "details");
    waiting.id = "waiting";
    b.queues.forEach(function (q) {
      var row = el("div");
      row.appendChild(el("dt", null, q.name));
      var dd = el("dd", null, q.waiting.length + " orang");
      if (q.waiting.length) {
        words(dd, " ");
        dd.appendChild(el("span", "muted", "(" + q.waiting.slice(0, 5).join(", ") + (q.waiting.length > 5 ? ", …" : "") + ")"));
      }
      if (q.estimate_next) {
        dd.appendChild(el("br"));
        dd.appendChild(el("span", "muted", "nomor baru: " + perkiraan(q.estimate_next)));
      }
      row.appendChild(dd);
      waiting.appendChild(row);
    });
    body.appendChild(waiting);
    if (b.recent && b.recent.length) {
      body.appendChild(el("h2", null, "Panggilan terakhir"));
      var list = el("ol", "recent");
      list.id = "recent";
      b.recent.forEach(function (r) {
        var li = el("li");
        li.appendChild(el("span", "mono", r.label));
        words(li, " → " + r.destination + " ");
        li.appendChild(el("span", "muted", r.at));
        list.appendChild(li);
      });
      body.appendChild(list);
    }
  }

  var source = new EventSource(root.dataset.stream);
  source.addEventListener("board", function (event) {
    try { last = JSON.parse(event.data); } catch (e) { return; }
    render(last);
    showStatus(last, true);
    root.dataset.rev = String(last.rev);
  });
  source.addEventListener("open", function () { if (last) { showStatus(last, true); } });
  // EventSource reconnects by itself (the server asks for retry: 1000 ms); say so meanwhile
  source.addEventListener("error", function () { showStatus(last, false); });
})();
