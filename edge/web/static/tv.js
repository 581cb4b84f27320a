// TV board: renders /api/board and re-renders on every queue event (server-sent events).
(function () {
  var root = document.getElementById("board");
  var section = root.dataset.section;
  var lastCall = null;
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
  function render(b) {
    // the back office changed the site (name, poli, closing): the header and layout follow
    if (b.site && b.site !== document.body.dataset.siteRev) { location.reload(); return; }
    var recent = b.recent.filter(function (r) { return want(r.destination); });
    var now = recent[0];
    document.getElementById("now-number").textContent = now ? now.label : "–";
    document.getElementById("now-dest").textContent = now ? "silakan menuju " + now.destination : "";
    var key = now ? now.label + "@" + now.destination + "@" + now.at : null;
    if (key && lastCall !== null && key !== lastCall) {
      var box = document.querySelector(".tv-now");
      box.classList.remove("flash");
      void box.offsetWidth;
      box.classList.add("flash");
    }
    lastCall = key;
    var counters = document.getElementById("counters");
    counters.innerHTML = "";
    Object.keys(b.counters).filter(want).sort().forEach(function (dest) {
      var row = el("div", "counter");
      row.appendChild(el("span", "dest", dest));
      row.appendChild(el("span", "label", b.counters[dest]));
      counters.appendChild(row);
    });
    if (!counters.children.length) counters.appendChild(el("p", "muted", "Belum ada panggilan."));
    var waiting = document.getElementById("waiting");
    waiting.innerHTML = "";
    (b.order || Object.keys(b.queues)).forEach(function (q) {
      if (section === "pendaftaran" && !isReg(q)) return;
      if (section === "poli" && isReg(q)) return;
      var info = b.queues[q];
      var row = el("div", "queue");
      row.appendChild(el("h3", null, info.name + " (" + info.waiting.length + ")"));
      var chips = el("p", "chips");
      info.waiting.slice(0, 12).forEach(function (l) { chips.appendChild(el("span", "chip", l)); });
      row.appendChild(chips);
      waiting.appendChild(row);
    });
  }
  function refresh() {
    fetch(root.dataset.board, { cache: "no-store" }).then(function (r) { return r.json(); }).then(render)
      .catch(function () { document.getElementById("tv-status").textContent = "Menyambung ulang…"; });
  }
  function tick() {
    // the edge's clock (WIB), not the TV's: cheap TVs often have the wrong time zone
    fetch("/api/status", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
      document.getElementById("clock").textContent = s.clock.slice(11, 16) + " WIB";
    }).catch(function () {});
  }
  window.rosmaEvents(root.dataset.events, { queue: refresh, reservations: refresh }, refresh);
  refresh();
  tick();
  setInterval(tick, 20000);
})();
