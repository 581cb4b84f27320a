// Live updates for kiosk and staff pages: device alerts, and a reload of the staff page when
// the queue changes (server-sent events; the browser reconnects by itself). A staff page also
// reloads when the back office changed the site (a new poli, the loket count, a closed day).
// The staff page's confirmation ("Tiket A001 dicetak ulang.") stays through such a reload for
// FLASH_KEEP_MS after the server first showed it: a reprint's own "printed" reloads the page.
(function () {
  var main = document.querySelector("[data-live=reload]");
  var sitePage = main || document.querySelector("[data-live=site]");
  var pending = null;
  var FLASH_KEY = "rosma-flash:" + location.pathname;
  var FLASH_KEEP_MS = 20000;

  function restoreFlash() {
    var kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(FLASH_KEY) || "null");
      sessionStorage.removeItem(FLASH_KEY);
    } catch (e) { kept = null; }
    var box = document.getElementById("flash");
    if (box) { box.dataset.shownAt = String(Date.now()); return; }  // a new message from the server wins
    if (!main || !kept || !kept.msgs || !kept.msgs.length || !(Date.now() - kept.at < FLASH_KEEP_MS)) return;
    box = document.createElement("div");
    box.className = "flash";
    box.id = "flash";
    box.setAttribute("role", "status");
    box.dataset.shownAt = String(kept.at);
    kept.msgs.forEach(function (m) {
      var p = document.createElement("p");
      p.textContent = String(m);
      box.appendChild(p);
    });
    var anchor = document.getElementById("device-alerts");
    if (anchor) anchor.insertAdjacentElement("afterend", box); else main.insertBefore(box, main.firstChild);
  }
  function keepFlash() {  // only a reload of our own carries the message, never a visit later on
    var box = main && document.getElementById("flash");
    if (!box) return;
    var msgs = Array.prototype.map.call(box.querySelectorAll("p"), function (p) { return p.textContent; });
    try {
      sessionStorage.setItem(FLASH_KEY, JSON.stringify({ msgs: msgs, at: Number(box.dataset.shownAt) || Date.now() }));
    } catch (e) { /* storage full or disabled: the message goes with the reload, as before */ }
  }
  function reloadSoon() {
    clearTimeout(pending);
    pending = setTimeout(function () { keepFlash(); location.reload(); }, 300);
  }
  restoreFlash();
  function reload() {
    if (document.activeElement && document.activeElement.tagName === "SELECT") return;
    reloadSoon();
  }
  function onSite() { if (sitePage) reload(); }
  function onQueue() {
    if (!main) return;
    if (document.activeElement && document.activeElement.tagName === "SELECT") return;
    reloadSoon();
  }
  function onDevice(e) {
    var d = JSON.parse(e.data);
    var box = document.getElementById("device-alerts");
    if (!box) return;
    if (box.dataset.only && box.dataset.only.split(" ").indexOf(d.device) < 0) return;
    var old = box.querySelector('[data-device="' + d.device + '"]');
    if (old) old.remove();
    if (!d.ok) {
      var div = document.createElement("div");
      div.className = "alert";
      div.dataset.device = d.device;
      div.textContent = "⚠ " + d.message;
      box.appendChild(div);
    }
  }
  // a ticket that printed or failed changes the staff page's list of today's tickets
  window.rosmaEvents("/api/events", {
    queue: onQueue, printed: onQueue, "print-failed": onQueue, device: onDevice,
    reservations: window.rosmaSiteWatch(onSite)
  });
})();
