// Keep the sharded layer's stacked bars on one scale while rows stream in: the longest forward
// fills the width. The server renders the same widths (tpworkers/templatetags/split_bars.py),
// but a row that arrives over the websocket may be longer than those before it.
(function () {
  "use strict";

  function rescale() {
    var bars = document.querySelectorAll(".split-bar[data-compute-us]");
    var longest = 0;
    bars.forEach(function (bar) {
      longest = Math.max(longest, Number(bar.dataset.computeUs) + Number(bar.dataset.commUs));
    });
    if (!longest) { return; }
    bars.forEach(function (bar) {
      bar.querySelector(".compute").style.width = (100 * Number(bar.dataset.computeUs) / longest) + "%";
      bar.querySelector(".comm").style.width = (100 * Number(bar.dataset.commUs) / longest) + "%";
    });
  }

  document.addEventListener("htmx:wsAfterMessage", rescale);
})();
