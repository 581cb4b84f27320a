// Rosma patient site: progressive enhancement only; every page works without this file.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // Birth dates are typed tanggal-bulan-tahun as on the KTP: put in the dashes as the digits come
  // (a phone's number pad may have none), only while typing at the end of the field.
  document.querySelectorAll("input[data-tanggal]").forEach(function (input) {
    input.addEventListener("input", function (event) {
      if (event.inputType && event.inputType.indexOf("insert") !== 0) {
        return;
      }
      if (input.selectionStart !== input.value.length) {
        return;
      }
      var value = input.value.replace(/[\/. ]+/g, "-").replace(/-{2,}/g, "-");
      if (/^\d{8}$/.test(value)) {
        value = value.slice(0, 2) + "-" + value.slice(2, 4) + "-" + value.slice(4);
      } else if (/^\d{2}$/.test(value) || /^\d{1,2}-\d{2}$/.test(value)) {
        value += "-";
      } else if (/^\d{1,2}-\d{3}$/.test(value)) {
        value = value.slice(0, -1) + "-" + value.slice(-1);
      } else if (/^\d{3}$/.test(value)) {
        value = value.slice(0, 2) + "-" + value.slice(2);
      }
      if (value !== input.value) {
        input.value = value;
      }
    });
  });

  var form = document.getElementById("reservasi-form");
  if (!form) {
    return;
  }

  var puskesmas = form.querySelector("#puskesmas");
  var poli = form.querySelector("#poli");
  var date = form.querySelector("#date");
  var slot = form.querySelector("#slot");
  var bpjsField = form.querySelector("#field-bpjs_no");
  var bpjsHint = form.querySelector("#bpjs_no-hint");
  var polis = JSON.parse(poli.getAttribute("data-polis") || "{}");
  var slotLabels = {};
  Array.prototype.forEach.call(slot.options, function (opt) {
    slotLabels[opt.value] = opt.textContent;
  });

  function option(value, text) {
    var opt = document.createElement("option");
    opt.value = value;
    opt.textContent = text;
    return opt;
  }

  function fillPoli() {
    var keep = poli.value;
    var list = polis[puskesmas.value] || [];
    poli.innerHTML = "";
    poli.appendChild(option("", list.length ? "Pilih poli" : "Pilih puskesmas dulu"));
    list.forEach(function (item) {
      var opt = option(item[0], item[1]);
      if (item[0] === keep) {
        opt.selected = true;
      }
      poli.appendChild(opt);
    });
  }

  function payer() {
    var checked = form.querySelector("input[name=payer]:checked");
    return checked ? checked.value : "";
  }

  function toggleBpjs() {
    bpjsField.hidden = payer() !== "BPJS";
    if (bpjsHint) {
      bpjsHint.textContent = "13 digit angka di kartu JKN / KIS, atau NIK 16 digit.";
    }
  }

  function resetSlots() {
    Array.prototype.forEach.call(slot.options, function (opt) {
      opt.disabled = false;
      opt.hidden = false;
      opt.textContent = slotLabels[opt.value];
    });
  }

  var pending = 0;
  function refreshSlots() {
    resetSlots();
    if (!puskesmas.value || !poli.value || !date.value) {
      return;
    }
    var ticket = ++pending;
    var url = "/api/v1/puskesmas/" + encodeURIComponent(puskesmas.value) + "/slots?poli=" +
      encodeURIComponent(poli.value) + "&date=" + encodeURIComponent(date.value);
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (data) {
        if (!data || ticket !== pending) {
          return;
        }
        var byslot = {};
        data.slots.forEach(function (s) { byslot[s.slot] = s; });
        Array.prototype.forEach.call(slot.options, function (opt) {
          if (!opt.value) {
            return;
          }
          var info = byslot[opt.value];
          var base = slotLabels[opt.value];
          if (!info) {
            opt.disabled = true;
            opt.hidden = true;
          } else if (info.remaining <= 0) {
            opt.disabled = true;
            opt.textContent = base + " (penuh)";
          } else if (!info.available) {
            opt.disabled = true;
            opt.textContent = base + " (sudah lewat)";
          } else {
            opt.textContent = base + " · sisa " + info.remaining;
          }
          if (opt.disabled && opt.selected) {
            slot.value = "";
          }
        });
      })
      .catch(function () {});
  }

  puskesmas.addEventListener("change", function () {
    fillPoli();
    refreshSlots();
  });
  poli.addEventListener("change", refreshSlots);
  date.addEventListener("change", refreshSlots);
  form.querySelectorAll("input[name=payer]").forEach(function (radio) {
    radio.addEventListener("change", toggleBpjs);
  });

  fillPoli();
  toggleBpjs();
  refreshSlots();

  // Web Push on a reservation's page: ask the browser, subscribe, hand the subscription to central.
  var pushBox = document.getElementById("push-box");
  if (pushBox && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window) {
    var on = document.getElementById("push-on");
    var off = document.getElementById("push-off");
    var status = document.getElementById("push-status");
    var show = function (active) { on.hidden = active; off.hidden = !active; };
    var post = function (url, body) {
      return fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": pushBox.dataset.csrf },
        body: JSON.stringify(body || {})
      }).then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || "Gagal"); return j; }); });
    };
    var key = function (b64) {
      var pad = "=".repeat((4 - b64.length % 4) % 4);
      var raw = atob((b64 + pad).replace(/-/g, "+").replace(/_/g, "/"));
      var out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      return out;
    };
    show(pushBox.dataset.on === "1");
    on.addEventListener("click", function () {
      Notification.requestPermission().then(function (answer) {
        if (answer !== "granted") throw new Error("Izin pemberitahuan tidak diberikan. Aktifkan di pengaturan peramban.");
        return Promise.all([navigator.serviceWorker.ready, fetch(pushBox.dataset.keyUrl).then(function (r) { return r.json(); })]);
      }).then(function (got) {
        return got[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key(got[1].key) });
      }).then(function (sub) {
        return post(pushBox.dataset.onUrl, sub.toJSON());
      }).then(function (j) { status.textContent = j.message; show(true); })
        .catch(function (err) { status.textContent = err.message || "Pemberitahuan tidak dapat diaktifkan di perangkat ini."; });
    });
    off.addEventListener("click", function () {
      post(pushBox.dataset.offUrl).then(function (j) { status.textContent = j.message; show(false); })
        .catch(function (err) { status.textContent = err.message; });
    });
  }
})();
