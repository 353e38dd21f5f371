// The Showroom's page behaviour: draw class probabilities with Chart.js when a
// result arrives, and let htmx show refused cases (HTTP 422) in place.
(function () {
  "use strict";

  function drawCharts(root) {
    if (typeof Chart === "undefined") return;
    Chart.defaults.locale = document.documentElement.lang;  // 0,25 in pt-BR
    root.querySelectorAll("canvas[data-probabilities]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      canvas.dataset.drawn = "1";
      var probabilities = JSON.parse(canvas.dataset.probabilities);
      var labels = Object.keys(probabilities);
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: labels,
          datasets: [{
            label: canvas.getAttribute("data-label") || "probability",
            data: labels.map(function (k) { return probabilities[k]; }),
          }],
        },
        options: {
          indexAxis: "y",
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          scales: { x: { min: 0, max: 1 } },
          plugins: { legend: { display: false } },
        },
      });
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    drawCharts(event.detail.target.parentNode || document);
  });
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
})();
