// Draws the planner's projection: cumulative people through against the target, per day.
"use strict";
(function () {
  var Charts = window.AntreanCharts;
  var el = document.getElementById("chart-plan");
  if (!el) { return; }
  var chart = Charts.readJson(el, "data-chart");
  var labels = Charts.readJson(el, "data-labels");
  var target = chart.days.map(function () { return chart.remaining; });
  var marks = [{ x: Charts.days([chart.deadline])[0],
                 label: labels.deadline + " " + chart.marks.deadline }];
  if (chart.finish) {
    marks.push({ x: Charts.days([chart.finish])[0], label: labels.finish + " " + chart.marks.finish,
                 colour: "#1a7f37", dashed: true });
  }
  Charts.lineChart(el, [labels.cumulative, labels.remaining, labels.capacity],
                   [Charts.days(chart.days), chart.cumulative, target, chart.capacity],
                   { dashed: [false, true, false], bars: [false, false, true],
                     scales: ["y", "y", "y2"], secondAxis: true, zero: true, marks: marks });
})();
