// Kiosk pages. The outcome of every QR scan shows at once: on the scan screen in its box (then
// back home), on the home screen in an overlay that closes by itself. A ticket page learns
// whether its ticket printed.
(function () {
  var home = document.getElementById("kiosk-home");
  var scanPage = document.getElementById("scan-page");
  var overlay = document.getElementById("scan-overlay");
  var ticket = document.getElementById("ticket-result");
  var timer = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showScan(e) {
    if (!scanPage && !overlay) return;
    var d = JSON.parse(e.data);
    var box = document.getElementById("scan-result");
    box.className = "result " + (d.ok ? "ok" : "bad");
    box.innerHTML = "";
    box.appendChild(el("h2", null, d.ok ? "Check-in berhasil" : "Maaf"));
    if (d.ok && d.label) {
      var n = el("div", "big-number", d.label);
      n.id = "ticket-number";
      box.appendChild(n);
    }
    var p = el("p", null, d.message);
    p.id = "scan-message";
    box.appendChild(p);
    if (d.ok) box.appendChild(el("p", "muted", "Silakan ambil tiket Anda dan tunggu panggilan di ruang tunggu poli."));
    clearTimeout(timer);
    if (scanPage) {
      timer = setTimeout(function () { location.href = scanPage.dataset.home; }, 15000);
    } else {
      overlay.hidden = false;
      timer = setTimeout(function () { overlay.hidden = true; }, 12000);
    }
  }

  function printed(e) {
    if (!ticket) return;
    var d = JSON.parse(e.data);
    if (d.label !== ticket.dataset.label) return;
    document.getElementById("not-printed").hidden = true;
    document.getElementById("print-hint").hidden = false;
  }

  function printFailed(e) {
    if (!ticket) return;
    var d = JSON.parse(e.data);
    if (d.label !== ticket.dataset.label) return;
    document.getElementById("not-printed").hidden = false;
    document.getElementById("print-hint").hidden = true;
  }

  if (overlay) overlay.addEventListener("click", function () { overlay.hidden = true; });
  window.rosmaEvents("/api/events", { scan: showScan, printed: printed, "print-failed": printFailed },
    function () { (scanPage || home || document.body).dataset.live = "1"; });
})();
