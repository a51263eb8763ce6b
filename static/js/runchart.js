// Live charts for a collective sweep: busbw and time against message size, log–log.
// The rows of the measurement table are the data: the server renders the measured ones and the
// websocket swaps new ones in, so the chart redraws from the table after every message.
(function () {
  "use strict";
  var COLORS = ["#2f6fde", "#e07a1f", "#1f8a4c", "#9b3cc8", "#c0392b", "#5f6b7a"];

  function sizeLabel(bytes) {
    var units = ["B", "KiB", "MiB", "GiB"], i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return (Math.round(bytes * 10) / 10) + " " + units[i];
  }

  function currentPoints(tbody) {
    return Array.prototype.map.call(tbody.querySelectorAll("tr.measured[data-size]"), function (tr) {
      return [Number(tr.dataset.size), Number(tr.dataset.busbw), Number(tr.dataset.time)];
    });
  }

  function build(payload, tbody, metric) {
    var all = [{ label: payload.current.label, points: currentPoints(tbody) }].concat(payload.compare);
    var xs = [];
    all.forEach(function (s) { s.points.forEach(function (p) { if (xs.indexOf(p[0]) < 0) xs.push(p[0]); }); });
    xs.sort(function (a, b) { return a - b; });
    var column = metric === "busbw" ? 1 : 2;
    var data = [xs];
    var series = [{ label: "size", value: function (u, v) { return v == null ? "" : sizeLabel(v); } }];
    all.forEach(function (s, i) {
      var byX = {};
      s.points.forEach(function (p) { byX[p[0]] = p[column] > 0 ? p[column] : null; });
      data.push(xs.map(function (x) { return x in byX ? byX[x] : null; }));
      series.push({ label: s.label + " (measured)", stroke: COLORS[i % COLORS.length], width: i === 0 ? 3 : 1.5,
                    spanGaps: true, points: { show: true } });
    });
    if (metric === "busbw") {
      payload.references.forEach(function (ref) {
        data.push(xs.map(function () { return ref.busbw_GBps; }));
        series.push({ label: ref.label, stroke: "#9aa3b2", dash: [6, 4], width: 1, points: { show: false } });
      });
    }
    return { data: data, series: series };
  }

  function draw(container, payload) {
    var tbody = document.getElementById(container.dataset.runChart);
    container.querySelectorAll(".chart").forEach(function (el) {
      var metric = el.dataset.metric;
      var built = build(payload, tbody, metric);
      if (el._plot) { el._plot.destroy(); }
      el.innerHTML = "";
      if (built.data[0].length === 0) { el.textContent = "Waiting for the first measurement…"; return; }
      el._plot = new uPlot({
        width: Math.min(520, el.clientWidth || 520), height: 300, series: built.series,
        scales: { x: { distr: 3, log: 2 }, y: { distr: 3 } },
        axes: [
          // Ticks at the measured sizes, labelled sparsely enough not to overlap.
          { splits: function () { return built.data[0]; }, label: "message size",
            values: function (u, vals) {
              var step = Math.ceil(vals.length / 6);
              return vals.map(function (v, i) { return i % step === 0 ? sizeLabel(v) : ""; });
            } },
          { label: metric === "busbw" ? "busbw (GB/s)" : "time (µs)", size: 70 },
        ],
      }, built.data, el);
    });
  }

  function init() {
    var container = document.querySelector("[data-run-chart]");
    var payloadEl = document.getElementById("run-chart-data");
    if (!container || !payloadEl || typeof uPlot === "undefined") { return; }
    var payload = JSON.parse(payloadEl.textContent);
    draw(container, payload);
    document.body.addEventListener("htmx:wsAfterMessage", function () { draw(container, payload); });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
