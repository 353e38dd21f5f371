// The Performance page's chart: each realised metric per day (solid) and the
// version's held-out score of the same metric (dashed), from the
// <script type="application/json" id="performance-data"> block.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("performance-data");
    var canvas = document.getElementById("performance-chart");
    if (!node || !canvas || typeof Chart === "undefined") return;
    var data = JSON.parse(node.textContent);
    var datasets = [];
    // Words from the template's data-label-* attributes (translated there).
    var realised = canvas.dataset.labelRealised || "realised";
    var heldOut = canvas.dataset.labelHeldOut || "held-out";
    data.metrics.forEach(function (name) {
      var values = data.realised[name] || [];
      if (!values.some(function (v) { return v !== null; })) return;
      datasets.push({type: "line", label: realised + " " + name, data: values, spanGaps: true});
      if (data.held_out[name] !== undefined) {
        datasets.push({
          type: "line",
          label: heldOut + " " + name,
          data: data.labels.map(function () { return data.held_out[name]; }),
          borderDash: [6, 4],
          pointRadius: 0
        });
      }
    });
    new Chart(canvas, {
      data: {labels: data.labels, datasets: datasets},
      options: {scales: {x: {ticks: {maxTicksLimit: 10}}}}
    });
  });
})();
