// Say so when the run page's websocket drops: without it the page would silently stop updating.
// htmx's ws extension retries by itself after an abnormal close (codes below); the notice goes
// once it reconnects, and the server then sends everything measured meanwhile.
(function () {
  "use strict";
  var RETRIED_CLOSE_CODES = [1006, 1011, 1012, 1013];
  var leaving = false;

  function notice() { return document.querySelector("[data-connection-notice]"); }

  function runEnded() {
    var status = document.querySelector(".run-status");
    return status && !status.classList.contains("queued") && !status.classList.contains("running");
  }

  function show(event) {
    var el = notice();
    if (!el || leaving || runEnded()) { return; }
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
