// Live updates for kiosk and staff pages: device alerts, and a reload of the staff page when
// the queue changes (server-sent events; the browser reconnects by itself). A staff page also
// reloads when the back office changed the site (a new poli, the loket count, a closed day).
(function () {
  var main = document.querySelector("[data-live=reload]");
  var sitePage = main || document.querySelector("[data-live=site]");
  var pending = null;
  function reload() {
    if (document.activeElement && document.activeElement.tagName === "SELECT") return;
    clearTimeout(pending);
    pending = setTimeout(function () { location.reload(); }, 300);
  }
  function onSite() { if (sitePage) reload(); }
  function onQueue() {
    if (!main) return;
    if (document.activeElement && document.activeElement.tagName === "SELECT") return;
    clearTimeout(pending);
    pending = setTimeout(function () { location.reload(); }, 300);
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
