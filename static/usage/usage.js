// The API usage page's charts: requests and p95 latency per hour or day for
// the busiest users (or models, or endpoints), from the
// <script type="application/json" id="usage-data"> block.
(function () {
  "use strict";
  function draw(canvas, labels, series, field) {
    if (!canvas) return;
    new Chart(canvas, {
      type: "line",
      data: {
        labels: labels,
        datasets: series.map(function (s) {
          return {label: s.key, data: s[field], spanGaps: true};
        })
      },
      options: {scales: {x: {ticks: {maxTicksLimit: 12}}, y: {beginAtZero: true}}}
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("usage-data");
    if (!node || typeof Chart === "undefined") return;
    Chart.defaults.locale = document.documentElement.lang;  // 1.234 in pt-BR
    var data = JSON.parse(node.textContent);
    draw(document.getElementById("usage-requests"), data.labels, data.series, "requests");
    draw(document.getElementById("usage-latency"), data.labels, data.series, "p95_ms");
  });
})();
