// The Monitor's refresh: poll often right after the user did something,
// rarely otherwise; never while the tab is hidden, never over a reason being
// typed. Each due part gets an "mlf-refresh" event, its hx-trigger.
(function () {
  "use strict";
  var PARTS = ["checks", "schedules", "alerts"];
  var lastActivity = Date.now(), lastRefresh = {};
  var refresh = null;

  function touched() { lastActivity = Date.now(); }
  ["click", "keydown", "mousemove", "scroll", "touchstart", "focus"].forEach(function (name) {
    window.addEventListener(name, touched, {passive: true});
  });

  function due(part) {
    var now = Date.now();
    if (document.hidden) return false;
    var element = document.getElementById(part);
    if (!element) return false;
    var typing = Array.prototype.some.call(element.querySelectorAll("input[type=text]"),
      function (input) { return input.value || input === document.activeElement; });
    if (typing) return false;
    if (!lastRefresh[part]) lastRefresh[part] = now;
    var every = (now - lastActivity < refresh.active_for * 1000 ? refresh.active : refresh.idle) * 1000;
    if (now - lastRefresh[part] < every) return false;
    lastRefresh[part] = now;
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("monitor-refresh");
    if (!node) return;
    refresh = JSON.parse(node.textContent);
    // A refused action answers 400/409 with the part and its message: show it.
    htmx.config.responseHandling = [
      {code: "204", swap: false},
      {code: "[23]..", swap: true},
      {code: "(400|409)", swap: true, error: false},
      {code: "[45]..", swap: false, error: true}
    ];
    // Pausing or enabling counts as activity: poll often for a while.
    document.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt.closest && event.detail.elt.closest("#schedules form")) touched();
    });
    window.setInterval(function () {
      PARTS.forEach(function (part) {
        if (due(part)) htmx.trigger("#" + part, "mlf-refresh");
      });
    }, 1000);
  });
})();
