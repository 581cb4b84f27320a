// Kiosk "scan QR" screen: shows the outcome of each scan the edge's scanner reports.
(function () {
  var page = document.getElementById("scan-page");
  var box = document.getElementById("scan-result");
  var back = null;
  function show(d) {
    box.className = "result " + (d.ok ? "ok" : "bad");
    box.innerHTML = "";
    var h = document.createElement("h2");
    h.textContent = d.ok ? "Check-in berhasil" : "Maaf";
    box.appendChild(h);
    if (d.ok && d.label) {
      var n = document.createElement("div");
      n.className = "big-number";
      n.id = "ticket-number";
      n.textContent = d.label;
      box.appendChild(n);
    }
    var p = document.createElement("p");
    p.id = "scan-message";
    p.textContent = d.message;
    box.appendChild(p);
    if (d.ok) {
      var s = document.createElement("p");
      s.className = "muted";
      s.textContent = "Silakan ambil tiket Anda dan tunggu panggilan di ruang tunggu poli.";
      box.appendChild(s);
    }
    clearTimeout(back);
    back = setTimeout(function () { location.href = page.dataset.home; }, 15000);
  }
  window.rosmaEvents("/api/events", { scan: function (e) { show(JSON.parse(e.data)); } },
    function () { page.dataset.live = "1"; });
})();
