// Charts of the registry pages, drawn from <script type="application/json"> data.
(function () {
  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function bar(canvasId, labels, values, label, horizontal) {
    var canvas = document.getElementById(canvasId);
    if (!canvas || typeof Chart === "undefined") return;
    new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: label, data: values }] },
      options: {
        indexAxis: horizontal ? "y" : "x",
        animation: false,
        plugins: { legend: { display: false } },
        maintainAspectRatio: false,
      },
    });
  }
  // The words come from the canvases' data-label-* attributes, translated
  // by the template; numbers in the page's language.
  function word(canvas, name) {
    return canvas ? canvas.getAttribute("data-label-" + name) || name : name;
  }
  function draw() {
    if (typeof Chart !== "undefined") Chart.defaults.locale = document.documentElement.lang;
    var boardCanvas = document.getElementById("leaderboard-chart");
    var importanceCanvas = document.getElementById("importance-chart");
    var board = data("leaderboard-data");
    if (board) {
      // Validation scores until the held-out ones are measured.
      var measured = board.some(function (r) { return r.score_test !== null; });
      bar("leaderboard-chart", board.map(function (r) { return r.model; }),
          board.map(function (r) { return measured ? r.score_test : r.score_val; }),
          word(boardCanvas, measured ? "held-out" : "validation"), true);
    }
    var importance = data("importance-data");
    if (importance) {
      bar("importance-chart", importance.map(function (r) { return r.feature; }),
          importance.map(function (r) { return r.importance; }), word(importanceCanvas, "importance"), true);
    }
    var evaluation = data("evaluation-data");
    var canvas = document.getElementById("evaluation-chart");
    if (evaluation && canvas && typeof Chart !== "undefined" &&
        evaluation.type === "predicted_vs_actual") {
      var points = evaluation.actual.map(function (a, i) {
        return { x: a, y: evaluation.predicted[i] };
      });
      var lo = Math.min.apply(null, evaluation.actual);
      var hi = Math.max.apply(null, evaluation.actual);
      new Chart(canvas, {
        type: "scatter",
        data: { datasets: [
          { label: word(canvas, "rows"), data: points },
          { label: word(canvas, "perfect"), data: [{ x: lo, y: lo }, { x: hi, y: hi }],
            type: "line", pointRadius: 0 },
        ] },
        options: {
          animation: false, maintainAspectRatio: false,
          scales: { x: { title: { display: true, text: word(canvas, "actual") } },
                    y: { title: { display: true, text: word(canvas, "predicted") } } },
        },
      });
    }
    document.querySelectorAll("canvas[data-histogram]").forEach(function (c) {
      var h = JSON.parse(c.dataset.histogram);
      var labels = h.type === "numeric"
        ? h.counts.map(function (_, i) { return Number(h.edges[i]).toPrecision(3); })
        : h.labels;
      new Chart(c, {
        type: "bar",
        data: { labels: labels, datasets: [{ data: h.counts }] },
        options: { animation: false, maintainAspectRatio: false,
                   plugins: { legend: { display: false }, tooltip: { enabled: true } },
                   scales: { x: { display: false }, y: { display: false } } },
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
