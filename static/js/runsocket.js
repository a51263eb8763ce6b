// The run page's connection notice (static/js/socketnotice.js, loaded before this) stays quiet
// once the run has ended: nothing more will come over its socket.
(function () {
  "use strict";

  function runEnded() {
    var status = document.querySelector(".run-status");
    return status && !status.classList.contains("queued") && !status.classList.contains("running");
  }

  window.socketNotice.quietWhen(runEnded);
})();
