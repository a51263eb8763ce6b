// Say so when a page's websocket drops: without it the page would silently stop updating.
// htmx's ws extension retries by itself after an abnormal close (codes below); the notice goes
// once it reconnects, and the server then sends what was missed (a run's rows measured
// meanwhile, a live class's step, phase and tally). Shared by the run page and the live class
// pages: a page whose socket has nothing more to say after some point (a run that ended) adds
// that test with socketNotice.quietWhen (static/js/runsocket.js).
(function () {
  "use strict";
  var RETRIED_CLOSE_CODES = [1006, 1011, 1012, 1013];
  var leaving = false;
  var quietTests = [];

  function notice() { return document.querySelector("[data-connection-notice]"); }

  function quiet() {
    return quietTests.some(function (test) { return test(); });
  }

  function show(event) {
    var el = notice();
    if (!el || leaving || quiet()) { return; }
    var close = event.detail && event.detail.event;
    el.querySelector("[data-retrying]").hidden = Boolean(close && RETRIED_CLOSE_CODES.indexOf(close.code) < 0);
    el.hidden = false;
  }

  function hide() {
    var el = notice();
    if (el) { el.hidden = true; }
  }

  window.addEventListener("pagehide", function () { leaving = true; });
  document.addEventListener("htmx:wsClose", show);
  document.addEventListener("htmx:wsError", show);
  document.addEventListener("htmx:wsOpen", hide);
  window.socketNotice = { quietWhen: function (test) { quietTests.push(test); } };
})();
