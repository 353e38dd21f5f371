// The dispatch page's chart of recent runs: seconds (line) and rows written
// (bars), from the <script type="application/json" id="chart-data"> block.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("chart-data");
    var canvas = document.getElementById("run-chart");
    if (!node || !canvas || typeof Chart === "undefined") return;
    var data = JSON.parse(node.textContent);
    // Labels come translated from the template (data-label-*), no strings here.
    var seconds = canvas.dataset.labelSeconds || "seconds";
    var rows = canvas.dataset.labelRows || "rows written";
    new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          {type: "line", label: seconds, data: data.seconds, yAxisID: "y"},
          {type: "bar", label: rows, data: data.rows, yAxisID: "rows"}
        ]
      },
      options: {scales: {y: {position: "left", title: {display: true, text: seconds}},
                         rows: {position: "right", grid: {drawOnChartArea: false}, title: {display: true, text: rows}},
                         x: {ticks: {maxTicksLimit: 8}}}}
    });
  });
})();
