// Dasbor kunjungan: draws each table's chart (Chart.js, served from this site) from the JSON block
// the page carries, and refreshes "Hari ini" every minute. The tables beside the charts hold every
// number, so the page says everything without this file.
(function () {
  "use strict";

  var COLOURS = ["#0f766e", "#f59e0b", "#2563eb", "#db2777", "#7c3aed", "#65a30d", "#dc2626", "#0891b2"];

  function number(value, unit) {
    if (value === null || value === undefined) {
      return "–";
    }
    var text = Number.isInteger(value)
      ? value.toLocaleString("id-ID")
      : value.toLocaleString("id-ID", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    if (unit === "%") {
      return text + "%";
    }
    return unit ? text + " " + unit : text;
  }

  function options(spec) {
    var round = spec.type === "doughnut";
    var opts = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      locale: "id-ID",
      plugins: {
        legend: { display: round || spec.datasets.length > 1, position: "bottom" },
        tooltip: {
          callbacks: {
            label: function (ctx) {
              var value = round ? ctx.parsed : ctx.parsed.y;
              var name = round ? ctx.label : ctx.dataset.label;
              return name + ": " + number(value, spec.unit);
            },
          },
        },
      },
    };
    if (spec.horizontal) {
      opts.indexAxis = "y";
      opts.scales = {
        x: { beginAtZero: true, position: "top" },
        y: { ticks: { autoSkip: false } },
      };
    } else if (!round) {
      opts.scales = {
        x: { ticks: { autoSkip: spec.type === "line", maxRotation: spec.type === "line" ? 0 : 45 } },
        y: {
          beginAtZero: true,
          ticks: {
            callback: function (v) {
              return number(v, spec.unit);
            },
          },
        },
      };
      if (spec.max) {
        opts.scales.y.max = spec.max;
      }
    }
    return opts;
  }

  function draw(canvas, spec) {
    var round = spec.type === "doughnut";
    var datasets = spec.datasets.map(function (d, i) {
      var colour = COLOURS[i % COLOURS.length];
      return {
        label: d.label,
        data: d.data,
        backgroundColor: round ? COLOURS.slice(0, d.data.length) : colour,
        borderColor: round ? "#ffffff" : colour,
        borderWidth: round ? 2 : spec.type === "line" ? 2 : 0,
        pointRadius: spec.type === "line" ? 2 : undefined,
        tension: 0.2,
        spanGaps: true,
      };
    });
    if (spec.horizontal) {
      canvas.parentNode.style.height = Math.max(256, 40 + spec.labels.length * 26) + "px";
    }
    canvas.setAttribute("data-drawn", "1");
    return new window.Chart(canvas, { type: spec.type, data: { labels: spec.labels, datasets: datasets }, options: options(spec) });
  }

  function charts() {
    var block = document.getElementById("dash-charts");
    if (!block || !window.Chart) {
      return;
    }
    var specs;
    try {
      specs = JSON.parse(block.textContent);
    } catch (e) {
      return;
    }
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#17302d";
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec = specs[canvas.getAttribute("data-chart")];
      if (spec) {
        draw(canvas, spec);
      }
    });
  }

  function cell(text, numeric) {
    var td = document.createElement("td");
    td.textContent = String(text);
    if (numeric) {
      td.className = "num";
    }
    return td;
  }

  function live() {
    var section = document.querySelector("[data-live-url]");
    if (!section || !window.fetch) {
      return;
    }
    var url = section.getAttribute("data-live-url");
    function refresh() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (data) {
          if (!data) {
            return;
          }
          section.querySelector("[data-live-now]").textContent = data.now.slice(11, 16);
          Object.keys(data.totals).forEach(function (k) {
            var el = section.querySelector('[data-live-total="' + k + '"]');
            if (el) {
              el.textContent = data.totals[k];
            }
          });
          var body = section.querySelector("[data-live-rows]");
          var rows = data.queues.map(function (q) {
            var tr = document.createElement("tr");
            tr.appendChild(cell(q.name, false));
            ["waiting", "called", "served", "no_show", "cancelled"].forEach(function (k) {
              tr.appendChild(cell(q[k], true));
            });
            return tr;
          });
          if (rows.length) {
            body.replaceChildren.apply(body, rows);
          }
        })
        .catch(function () {});
    }
    window.setInterval(refresh, 60000);
  }

  charts();
  live();
})();
