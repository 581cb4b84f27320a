// The kiosk's on-screen keypad: a touchscreen kiosk has no keyboard. Keys add to the number
// field, "Hapus" empties it, "⌫" removes the last character; the count under the field says
// how many digits there are (13 for a BPJS card, 16 for a NIK). Typing and scanning into the
// field still work. The page goes back home after two idle minutes.
(function () {
  "use strict";
  var field = document.getElementById("nomor");
  var pad = document.getElementById("keypad");
  var count = document.getElementById("keypad-count");
  var page = document.getElementById("keypad-page");
  if (!field || !pad) return;
  var idle;
  function home() { location.href = page.dataset.home; }
  function touch() { clearTimeout(idle); idle = setTimeout(home, 120000); }
  function show() {
    var digits = field.value.replace(/[^0-9A-Za-z]/g, "");
    if (!digits) { count.textContent = ""; return; }
    var allDigits = /^[0-9]+$/.test(digits);
    var n = digits.length;
    if (allDigits && n === 13) count.textContent = "13 digit: nomor kartu BPJS";
    else if (allDigits && n === 16) count.textContent = "16 digit: NIK";
    else count.textContent = n + (allDigits ? " digit" : " karakter");
  }
  pad.addEventListener("click", function (ev) {
    var key = ev.target.closest("button[data-key]");
    if (!key) return;
    var k = key.dataset.key;
    if (k === "clear") field.value = "";
    else if (k === "back") field.value = field.value.slice(0, -1);
    else if (field.value.length < field.maxLength) field.value += k;
    field.classList.remove("invalid");
    show();
    touch();
  });
  field.addEventListener("input", function () { show(); touch(); });
  show();
  touch();
})();
