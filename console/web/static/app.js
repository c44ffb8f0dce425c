// Dolbom console: small enhancements only; every page works without it.
"use strict";
document.addEventListener("submit", function (ev) {
  var button = ev.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    ev.preventDefault();
  }
});
