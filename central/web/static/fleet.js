// Fleet view: fetch the page's body again every few seconds (the server renders and escapes it).
(function () {
  "use strict";

  var body = document.getElementById("fleet-body");
  var note = document.getElementById("fleet-refresh");
  if (!body || !window.fetch || !window.DOMParser) {
    return;
  }
  var every = parseInt(body.getAttribute("data-every"), 10) || 30;
  var src = body.getAttribute("data-src");

  // An admin writing an alert note keeps her form: the refresh waits until she is done.
  function composing() {
    var open = body.querySelector("details.fleet-handle[open]");
    var active = document.activeElement;
    var focused = active && active.closest && body.contains(active) && active.closest(".fleet-handle-form");
    return Boolean(open || focused);
  }

  function refresh() {
    if (composing()) {
      return;
    }
    fetch(src, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
        body.replaceChildren.apply(body, Array.prototype.slice.call(doc.body.firstChild.childNodes));
        note.textContent = "Diperbarui otomatis tiap " + every + " detik.";
        note.classList.remove("error");
        body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {
        note.textContent = "Gagal memperbarui; mencoba lagi dalam " + every + " detik. Jika tetap gagal, muat ulang halaman.";
        note.classList.add("error");
      });
  }

  window.setInterval(refresh, every * 1000);
})();
