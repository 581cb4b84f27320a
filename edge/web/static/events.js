// Opens the edge's event stream and keeps it open: the browser reconnects by itself after a
// stream ends (sending Last-Event-ID, so nothing is missed), but gives up after an error status
// such as 503 (too many screens): then we open a new one a little later.
window.rosmaEvents = function (url, listeners, onopen) {
  function connect() {
    var es = new EventSource(url);
    Object.keys(listeners).forEach(function (type) { es.addEventListener(type, listeners[type]); });
    es.onopen = function () { if (onopen) onopen(); };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000 + Math.random() * 2000);
    };
  }
  connect();
};
