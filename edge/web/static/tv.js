// TV board: renders /api/board and re-renders on every queue event (server-sent events).
// Sized for a 43" 1080p screen read from 5 m: the sizes are in the stylesheet, this script only
// keeps every row on the screen (fewer chips and a "+N lagi" rather than a cut-off line).
(function () {
  var root = document.getElementById("board");
  var section = root.dataset.section;
  var lastCall = null;
  var RECENT = 5;
  var BADGES = { lansia: "Lansia", disabilitas: "Disabilitas", ibu_hamil: "Ibu hamil" };
  function isReg(name) { return name.indexOf("REG-") === 0; }
  function isLoket(dest) { return /^Loket /.test(dest || ""); }
  function want(dest) {
    if (section === "pendaftaran") return isLoket(dest);
    if (section === "poli") return !isLoket(dest);
    return true;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clock(hhmm) { return (hhmm || "").replace(":", "."); }  // 08.12, as Indonesians write it
  function estimate(range) {
    if (!Array.isArray(range) || range.length !== 2) return "";
    var low = Math.round(range[0]), high = Math.round(range[1]);
    if (!isFinite(low) || !isFinite(high)) return "";
    return "perkiraan " + (low === high ? low : low + "–" + high) + " menit";
  }
  // the called number in one line: a long label gets a smaller font (never below 160 px at 1080p)
  function fitNumber(box) {
    box.style.fontSize = "";
    var size = parseFloat(getComputedStyle(box).fontSize);
    var floor = Math.min(size, 160 * window.innerHeight / 1080);
    while (box.scrollWidth > box.clientWidth + 1 && size > floor) {
      size = Math.max(floor, size - 8);
      box.style.fontSize = size + "px";
    }
  }
  // at most ``lines`` lines of chips; the rest are counted in a last "+N lagi" chip
  function fitChips(p, lines) {
    var chips = p.querySelectorAll(".chip:not(.more)");
    if (!chips.length) return;
    var lineHeight = chips[0].offsetHeight;
    var more = p.querySelector(".more");
    var hidden = more ? Number(more.dataset.hidden) : 0;
    function over() {
      var last = p.lastElementChild;
      return last.offsetTop - chips[0].offsetTop > (lines - 1) * lineHeight + lineHeight / 2;
    }
    var shown = chips.length;
    while (over() && shown > 1) {
      p.removeChild(chips[--shown]);
      hidden += 1;
      if (!more) { more = el("span", "chip more"); p.appendChild(more); }
      more.textContent = "+" + hidden + " lagi";
    }
  }
  function chip(label, kelas) {
    var c = el("span", "chip", label);
    if (kelas) {
      c.classList.add("prio");
      c.appendChild(el("span", "badge-prio", BADGES[kelas] || kelas));
    }
    return c;
  }
  function render(b) {
    // the back office changed the site (name, poli, closing, running text): the page follows
    if (b.site && b.site !== document.body.dataset.siteRev) { location.reload(); return; }
    document.getElementById("tv-status").textContent = "";
    var recent = b.recent.filter(function (r) { return want(r.destination); });
    // "Dipanggil" is the newest call still open: a finished, absent or cancelled number leaves
    var now = recent.filter(function (r) { return b.counters[r.destination] === r.label; })[0];
    var number = document.getElementById("now-number");
    number.textContent = now ? now.label : "–";
    fitNumber(number);
    document.getElementById("now-dest").textContent = now ? "silakan menuju " + now.destination : "";
    var key = now ? now.label + "@" + now.destination + "@" + now.at : null;
    if (key && lastCall !== null && key !== lastCall && now === recent[0]) {  // a new call, not an older one left
      var box = document.querySelector(".tv-now");
      box.classList.remove("flash");
      void box.offsetWidth;
      box.classList.add("flash");
    }
    lastCall = key;
    var list = document.getElementById("recent");
    list.innerHTML = "";
    recent.slice(0, RECENT).forEach(function (r) {
      var li = el("li");
      li.appendChild(el("span", "label", r.label));
      li.appendChild(el("span", "dest", "→ " + r.destination));
      li.appendChild(el("span", "at", clock(r.at)));
      list.appendChild(li);
    });
    if (!list.children.length) list.appendChild(el("li", "muted", "Belum ada panggilan."));
    // long room names take two lines: the oldest calls give way rather than being cut off
    var recentBox = list.parentNode;
    while (list.children.length > 1 && recentBox.scrollHeight > recentBox.clientHeight + 1) list.removeChild(list.lastChild);
    var counters = document.getElementById("counters");
    counters.innerHTML = "";
    Object.keys(b.counters).filter(want).sort().forEach(function (dest) {
      var row = el("div", "counter");
      row.appendChild(el("span", "dest", dest));
      row.appendChild(el("span", "label", b.counters[dest]));
      counters.appendChild(row);
    });
    if (!counters.children.length) counters.appendChild(el("p", "muted", "Belum ada nomor dipanggil."));
    var area = document.querySelector(".tv-waiting");
    area.classList.remove("dense");
    renderWaiting(b);
    // many queues on one screen ("semua"): smaller chips rather than queues off the screen
    if (area.scrollHeight > area.clientHeight + 1 && window.innerWidth > 1000) {
      area.classList.add("dense");
      renderWaiting(b);
    }
  }
  function renderWaiting(b) {
    var waiting = document.getElementById("waiting");
    waiting.innerHTML = "";
    var lines = section === "pendaftaran" ? 3 : 1;
    (b.order || Object.keys(b.queues)).forEach(function (q) {
      if (section === "pendaftaran" && !isReg(q)) return;
      if (section === "poli" && isReg(q)) return;
      var info = b.queues[q];
      var kelas = info.priority || {};
      var row = el("div", "queue");
      var head = el("div", "queue-head");
      head.appendChild(el("h3", null, info.name + " (" + info.waiting.length + ")"));
      var when = estimate(info.estimate_next);
      if (when) head.appendChild(el("span", "estimate", when));
      row.appendChild(head);
      var chips = el("p", "chips");
      var shown = info.waiting.slice(0, 20);
      shown.forEach(function (l) { chips.appendChild(chip(l, kelas[l])); });
      if (info.waiting.length > shown.length) {
        var more = el("span", "chip more", "+" + (info.waiting.length - shown.length) + " lagi");
        more.dataset.hidden = info.waiting.length - shown.length;
        chips.appendChild(more);
      }
      if (!shown.length) chips.appendChild(el("span", "none", "Tidak ada yang menunggu."));
      row.appendChild(chips);
      waiting.appendChild(row);
      fitChips(chips, lines);
    });
  }
  function refresh() {
    fetch(root.dataset.board, { cache: "no-store" }).then(function (r) { return r.json(); }).then(render)
      .catch(function () { document.getElementById("tv-status").textContent = "Menyambung ulang…"; });
  }
  function tick() {
    // the edge's clock (WIB), not the TV's: cheap TVs often have the wrong time zone
    fetch("/api/status", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
      document.getElementById("clock").textContent = clock(s.clock.slice(11, 16)) + " WIB";
    }).catch(function () {});
  }
  // the running text moves at the same speed however long it is
  var line = document.getElementById("running-line");
  if (line) line.style.animationDuration = Math.max(10, line.offsetWidth / 110) + "s";
  window.rosmaEvents(root.dataset.events, { queue: refresh, reservations: refresh }, refresh);
  refresh();
  tick();
  setInterval(tick, 20000);
})();
