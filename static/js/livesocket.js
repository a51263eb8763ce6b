// Say so when a live class page's websocket drops, as run pages do (static/js/runsocket.js):
// htmx's ws extension retries by itself after an abnormal close; on reconnect the server sends
// the current step, phase and tally, so nothing missed meanwhile stays missing.
(function () {
  "use strict";
  var RETRIED_CLOSE_CODES = [1006, 1011, 1012, 1013];
  var leaving = false;

  function notice() { return document.querySelector("[data-connection-notice]"); }

  function show(event) {
    var el = notice();
    if (!el || leaving) { return; }
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
})();
