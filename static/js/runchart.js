// Live charts for a collective sweep: busbw and time against message size, log–log.
// The rows of the measurement table are the data: the server renders the measured ones and the
// websocket swaps new ones in, so the chart takes the table's new data after every message
// (uPlot's setData; the chart is built once, and again only when the window is resized).
// Series and size labels come from the server (tpworkers/views/charts.py), provenance included.
// A live class's page also gets the run over its socket, chart and all, and a payload that may
// carry the class's guesses (lessons/liveclass/render.py), drawn under the run's lines.
(function () {
  "use strict";
  var COLORS = ["#2f6fde", "#e07a1f", "#1f8a4c", "#c0392b"];
  var MODELLED = ["#7d3cc8", "#a66bd3", "#4d5566", "#8c93a3"];
  var DASHES = [[8, 4], [3, 3], [12, 4, 3, 4], [2, 6]];
  var GUESSED = "#a0700a", GUESSED_BAND = "rgba(222, 160, 30, 0.22)";
  var LABEL_GAP_PX = 62; // room for "256 KiB" and a space

  var sizeLabels = {};  // bytes -> "256 KiB", written by the server's one size formatter

  function sizeLabel(bytes) {
    return bytes == null ? "" : sizeLabels[String(bytes)] || "";
  }

  // Three significant digits, thousands separated: 0.0005 GB/s of gloo and 450 GB/s of NVLink alike.
  function numberLabel(value) {
    if (value == null) { return ""; }
    return value >= 1000 ? Math.round(value).toLocaleString("en") : String(Number(value.toPrecision(3)));
  }

  // Log axes: a line and a label at every power of ten, and at 2× and 5× only when the axis spans
  // few decades; uPlot's default draws every 1..9 × 10^k, a grey band on a five-decade busbw axis.
  function logTicks(u, splits) {
    var shown = splits.filter(function (v) { return v > 0; });
    var decades = shown.length ? Math.log10(shown[shown.length - 1] / shown[0]) : 0;
    return splits.map(function (v) {
      if (!(v > 0)) { return null; }
      var mantissa = Math.round(v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9)) * 1000) / 1000;
      return mantissa === 1 || (decades <= 2.5 && (mantissa === 2 || mantissa === 5)) ? v : null;
    });
  }

  // Label the largest size, then every size far enough left of the last label: the sweep's
  // end is always named, and labels never overlap however many sizes there are.
  function sparseSizeLabels(u, sizes) {
    var labels = sizes.map(function () { return ""; });
    var lastX = Infinity;
    for (var i = sizes.length - 1; i >= 0; i--) {
      if (sizes[i] == null) { continue; }
      var x = u.valToPos(sizes[i], "x");
      if (lastX - x >= LABEL_GAP_PX) { labels[i] = sizeLabel(sizes[i]); lastX = x; }
    }
    return labels;
  }

  // time "median": each size's median call (what guesses are judged against), not the mean.
  function currentPoints(tbody, time) {
    return Array.prototype.map.call(tbody.querySelectorAll("tr.measured[data-size]"), function (tr) {
      var us = time === "median" ? tr.dataset.median : tr.dataset.time;
      return [Number(tr.dataset.size), Number(tr.dataset.busbw), Number(us)];
    });
  }

  function column(points, xs, index) {
    var byX = {};
    points.forEach(function (p) { byX[p[0]] = p[index] > 0 ? p[index] : null; });
    return xs.map(function (x) { return x in byX ? byX[x] : null; });
  }

  function build(payload, tbody, metric) {
    var measured = [{ label: payload.current.label, points: currentPoints(tbody, payload.current.time) }]
      .concat(payload.compare);
    var index = metric === "busbw" ? 1 : 2;
    // The x axis spans every planned size from the start (the references cover them), so the
    // chart does not rescale as rows arrive: the measured line grows along the modelled ones.
    var xs = [];
    measured.concat(payload.references).forEach(function (s) {
      s.points.forEach(function (p) { if (xs.indexOf(p[0]) < 0) { xs.push(p[0]); } });
    });
    xs.sort(function (a, b) { return a - b; });
    var data = [xs];
    var series = [{ label: "size", value: function (u, v) { return sizeLabel(v); } }];
    measured.forEach(function (s, i) {
      data.push(column(s.points, xs, index));
      series.push({ label: s.label, stroke: COLORS[i % COLORS.length], width: i === 0 ? 3 : 1.5,
                    spanGaps: true, points: { show: true, size: i === 0 ? 6 : 4 } });
    });
    payload.references.forEach(function (ref, i) {
      var values = column(ref.points, xs, index);
      if (values.every(function (v) { return v == null; })) { return; }
      data.push(values);
      series.push({ label: ref.label, stroke: MODELLED[i % MODELLED.length], dash: DASHES[i % DASHES.length],
                    width: 1.25, spanGaps: true, points: { show: false } });
    });
    return { data: data, series: series };
  }

  function guessesOn(payload, metric) {
    var guesses = payload.guesses;
    return guesses && guesses.metric === metric ? guesses : null;
  }

  // The class's guesses: the spread as a band, the median as a dashed line across it, each named
  // on the chart itself so neither can pass for a measurement. Drawn before the axes and the
  // series, so the run's own line stays on top.
  function drawGuesses(u, guesses) {
    var ctx = u.ctx, box = u.bbox, px = uPlot.pxRatio;
    var high = u.valToPos(guesses.high, "y", true), low = u.valToPos(guesses.low, "y", true);
    var median = u.valToPos(guesses.median, "y", true);
    ctx.save();
    ctx.fillStyle = GUESSED_BAND;
    ctx.fillRect(box.left, high, box.width, low - high);
    ctx.strokeStyle = GUESSED;
    ctx.lineWidth = 2 * px;
    ctx.setLineDash([4 * px, 3 * px]);
    ctx.beginPath();
    ctx.moveTo(box.left, median);
    ctx.lineTo(box.left + box.width, median);
    ctx.stroke();
    ctx.fillStyle = GUESSED;
    ctx.font = 12 * px + "px sans-serif";
    ctx.textAlign = "left";  // set for every label: the axes leave theirs behind
    ctx.textBaseline = "bottom";
    ctx.fillText(guesses.line, box.left + 6 * px, median - 3 * px);
    ctx.textAlign = "right";
    ctx.textBaseline = "top";
    ctx.fillText(guesses.band, box.left + box.width - 6 * px, low + 3 * px);
    ctx.restore();
  }

  // The y axis reaches the guesses too: a class that guessed ten times too high still sees its line.
  function yRange(guesses) {
    return function (u, min, max) {
      return uPlot.rangeLog(min == null ? guesses.low : Math.min(min, guesses.low),
                            max == null ? guesses.high : Math.max(max, guesses.high), 10, false);
    };
  }

  // A queued run's devices are chosen when it starts: take them from the status block the
  // socket swapped in, so the legend stops saying "devices not chosen yet" without a reload.
  // True when the legend changed.
  function followSetting(payload) {
    var status = document.querySelector(".run-status[data-setting]");
    var now = status && status.dataset.setting;
    if (now && now !== payload.current.setting) {
      payload.current.label = payload.current.label.replace(payload.current.setting, now);
      payload.current.setting = now;
      return true;
    }
    return false;
  }

  // A new row: hand the chart its new data. A changed legend or set of series (a reference line
  // getting its first point inside the measured range) builds the chart again.
  function update(container, payload) {
    var tbody = document.getElementById(container.dataset.runChart);
    var rebuild = followSetting(payload);
    container.querySelectorAll(".chart").forEach(function (el) {
      var built = build(payload, tbody, el.dataset.metric);
      if (!rebuild && el._plot && el._plot.series.length === built.series.length && built.data[0].length) {
        el._plot.setData(built.data);
      } else {
        rebuild = true;
      }
    });
    if (rebuild) { draw(container, payload); }
  }

  function draw(container, payload) {
    followSetting(payload);
    var tbody = document.getElementById(container.dataset.runChart);
    container.querySelectorAll(".chart").forEach(function (el) {
      var metric = el.dataset.metric;
      var built = build(payload, tbody, metric);
      if (el._plot) { el._plot.destroy(); el._plot = null; }
      el.textContent = "";  // the no-JavaScript note, or the last drawing
      if (built.data[0].length === 0) { el.textContent = "Waiting for the first measurement…"; return; }
      el.classList.remove("muted");
      var guesses = guessesOn(payload, metric);
      el._plot = new uPlot({
        width: Math.max(280, el.clientWidth || 480), height: 300, series: built.series,
        legend: { live: false },
        scales: { x: { distr: 3, log: 2 }, y: guesses ? { distr: 3, range: yRange(guesses) } : { distr: 3 } },
        hooks: guesses ? { drawClear: [function (u) { drawGuesses(u, guesses); }] } : {},
        axes: [
          // Ticks at the sweep's sizes. uPlot's own log2 filter keeps one tick per doubling
          // that fits and nulls the rest; these splits are already chosen, so keep them all.
          { splits: function () { return built.data[0]; }, filter: function (u, splits) { return splits; },
            values: sparseSizeLabels, label: "message size per rank" },
          { label: metric === "busbw" ? "busbw (GB/s)" : "time (µs)", size: 64, filter: logTicks,
            grid: { filter: logTicks }, ticks: { filter: logTicks },
            values: function (u, splits) { return splits.map(numberLabel); } },
        ],
      }, built.data, el);
    });
  }

  var shown = null;  // {container, payload}: the chart on the page now

  // On load, and after every swap: a live class's page swaps its whole view in, chart included,
  // when the instructor moves on, and the chart it drew before is gone with the old view.
  function setUp() {
    var container = document.querySelector("[data-run-chart]");
    if (shown && shown.container === container) { return; }
    if (shown) {
      shown.container.querySelectorAll(".chart").forEach(function (el) {
        if (el._plot) { el._plot.destroy(); el._plot = null; }
      });
      shown = null;
    }
    var payloadEl = document.getElementById("run-chart-data");
    if (!container || !payloadEl || typeof uPlot === "undefined") { return; }
    shown = { container: container, payload: JSON.parse(payloadEl.textContent) };
    sizeLabels = shown.payload.size_labels || {};
    draw(shown.container, shown.payload);
  }

  var resizing = null;
  document.addEventListener("DOMContentLoaded", setUp);
  document.addEventListener("htmx:load", setUp);
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (shown) { update(shown.container, shown.payload); }
  });
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { if (shown) { draw(shown.container, shown.payload); } }, 150);
  });
})();
