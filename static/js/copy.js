// Copy buttons: <button data-copy="ID" hidden> copies the text of #ID. They stay hidden where
// this script does not run or the browser has no clipboard; the text is selectable anyway.
(function () {
  function arm(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = !(navigator.clipboard && window.isSecureContext);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { arm(document); });
  document.addEventListener("htmx:load", function (event) { arm(event.detail.elt); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var text = document.getElementById(button.dataset.copy).textContent;
    navigator.clipboard.writeText(text).then(
      function () { button.textContent = "Copied"; },
      function () { button.textContent = "Copy refused by the browser: select the text instead"; });
  });
})();
