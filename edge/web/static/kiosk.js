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
    box.dataset.label = "";
    box.appendChild(el("h2", null, d.ok ? "Check-in berhasil" : "Maaf"));
    if (d.ok && d.label) {
      var n = el("div", "big-number", d.label);
      n.id = "ticket-number";
      box.appendChild(n);
    }
    var p = el("p", null, d.message);
    p.id = "scan-message";
    box.appendChild(p);
    if (d.ok) {
      // the printer is out (its alert is on screen): the ticket will not come out now
      var out = document.querySelector('#device-alerts [data-device="printer"]');
      var hint = el("p", "muted", "Silakan ambil tiket Anda dan tunggu panggilan di ruang tunggu poli.");
      var np = el("div", "not-printed", "Tiket tidak tercetak. Nomor Anda " + d.label + ", silakan sampaikan ke petugas loket.");
      hint.id = "scan-print-hint";
      np.id = "scan-not-printed";
      hint.hidden = !!out;
      np.hidden = !out;
      box.dataset.label = d.label;
      box.appendChild(hint);
      box.appendChild(np);
    }
    clearTimeout(timer);
    if (scanPage) {
      timer = setTimeout(function () { location.href = scanPage.dataset.home; }, 15000);
    } else {
      overlay.hidden = false;
      timer = setTimeout(function () { overlay.hidden = true; }, 12000);
    }
  }

  // the ticket page, or a scan's result box, whose ticket this print outcome is about
  function printOutcome(e, failed) {
    var d = JSON.parse(e.data);
    var box = document.getElementById("scan-result");
    if (ticket && d.label === ticket.dataset.label) {
      document.getElementById("not-printed").hidden = !failed;
      document.getElementById("print-hint").hidden = failed;
    } else if (box && d.label && d.label === box.dataset.label && document.getElementById("scan-not-printed")) {
      document.getElementById("scan-not-printed").hidden = !failed;
      document.getElementById("scan-print-hint").hidden = failed;
    }
  }
  function printed(e) { printOutcome(e, false); }
  function printFailed(e) { printOutcome(e, true); }

  // the home screen shows the back office's poli, name and closing: reload it when they change
  // (not while a scan's outcome is on screen: it goes after it closes)
  function siteChanged() {
    if (!home) return;
    if (overlay && !overlay.hidden) { setTimeout(siteChanged, 2000); return; }
    location.reload();
  }

  if (overlay) overlay.addEventListener("click", function () { overlay.hidden = true; });
  window.rosmaEvents("/api/events", {
    scan: showScan, printed: printed, "print-failed": printFailed, reservations: window.rosmaSiteWatch(siteChanged)
  },
    function () { (scanPage || home || document.body).dataset.live = "1"; });
})();
