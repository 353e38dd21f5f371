// Page behaviour that used to be inline, so that the Content-Security-Policy
// can refuse every inline script and handler.
(function () {
  "use strict";

  // <form data-confirm="Delete ...?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // <select data-autosubmit>: choosing is submitting.
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-autosubmit]")) {
      event.target.form.submit();
    }
  });

  // <... data-reload-after="4">: reload the page after that many seconds;
  // data-reload-after="0" in a part htmx swapped in: reload now.
  function scheduleReloads(root) {
    root.querySelectorAll("[data-reload-after]").forEach(function (node) {
      if (node.dataset.reloadScheduled) return;
      node.dataset.reloadScheduled = "1";
      var seconds = parseFloat(node.dataset.reloadAfter) || 0;
      window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scheduleReloads(document); });
  document.addEventListener("htmx:load", function (event) { scheduleReloads(event.detail.elt.parentNode || document); });
})();
