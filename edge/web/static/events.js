// Opens the edge's event stream and keeps it open: the browser reconnects by itself after a
// stream ends (sending Last-Event-ID, so nothing is missed), but gives up after an error status
// such as 503 (too many screens): then we open a new one a little later.
// A page's first connection asks for what happened since the page was built (data-events-since),
// so an event between building the page and connecting (a ticket printing) is not missed.
window.rosmaEvents = function (url, listeners, onopen) {
  var since = document.body.dataset.eventsSince;
  var first = since && since !== "0" && url.indexOf("?") < 0 ? url + "?since=" + since : url;
  function connect() {
    var es = new EventSource(first);
    first = url;
    Object.keys(listeners).forEach(function (type) { es.addEventListener(type, listeners[type]); });
    es.onopen = function () { if (onopen) onopen(); };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000 + Math.random() * 2000);
    };
  }
  connect();
};

// The site as central's back office keeps it (name, loket count, poli, today's closing) changed
// since this page was built: the board's "site" fingerprint differs from the page's. Returns a
// listener for the "reservations" notice (every change batch from central sends one).
window.rosmaSiteWatch = function (onChange) {
  return function () {
    fetch("/api/board", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (b) {
      if (b.site && b.site !== document.body.dataset.siteRev) onChange();
    }).catch(function () {});
  };
};
