// The Drift page's charts, from its <script type="application/json"> blocks:
// dataset drift share per run, one feature's reference vs current shares,
// and that feature's score per run against its threshold.
(function () {
  "use strict";
  // The words come translated from the template's data-label-* attributes
  // (no strings to translate here); English when an attribute is absent.
  function word(canvas, name, fallback) {
    return canvas.dataset[name] || fallback;
  }
  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Chart === "undefined") return;
    var share = data("drift-share-data");
    var canvas = document.getElementById("share-chart");
    if (share && canvas) {
      new Chart(canvas, {
        type: "line",
        data: {
          labels: share.labels,
          datasets: [
            {label: word(canvas, "labelShare", "share of drifted features"), data: share.share, spanGaps: false},
            {label: word(canvas, "labelThreshold", "dataset drift threshold"), data: share.threshold, borderDash: [6, 4], pointRadius: 0}
          ]
        },
        options: {scales: {y: {min: 0, max: 1, title: {display: true, text: word(canvas, "labelAxis", "share")}},
                           x: {ticks: {maxTicksLimit: 10}}}}
      });
    }
    var dist = data("drift-distribution-data");
    canvas = document.getElementById("distribution-chart");
    if (dist && canvas) {
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: dist.labels,
          datasets: [
            {label: word(canvas, "labelReference", "reference"), data: dist.reference},
            {label: word(canvas, "labelCurrent", "current"), data: dist.current}
          ]
        },
        options: {scales: {y: {min: 0, title: {display: true, text: word(canvas, "labelAxis", "share of rows")}},
                           x: {ticks: {maxTicksLimit: 12}}}}
      });
    }
    var history = data("drift-history-data");
    canvas = document.getElementById("history-chart");
    if (history && canvas) {
      new Chart(canvas, {
        type: "line",
        data: {
          labels: history.labels,
          datasets: [
            {label: (history.method || word(canvas, "labelScore", "score")), data: history.score, spanGaps: false},
            {label: word(canvas, "labelThreshold", "threshold"), data: history.threshold, borderDash: [6, 4], pointRadius: 0}
          ]
        },
        options: {scales: {y: {min: 0}, x: {ticks: {maxTicksLimit: 10}}}}
      });
    }
  });
})();
