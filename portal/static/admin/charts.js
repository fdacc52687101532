// Small helpers around the vendored uPlot: sizes follow the container, colours fixed.
"use strict";
window.AntreanCharts = (function () {
  var COLOURS = ["#0b4f8a", "#1a7f37", "#b00020", "#c49000"];

  function width(el) { return Math.max(280, el.clientWidth || 600); }

  // Time axes in the page's language: 24-hour clock within a day, dates beyond.
  var LANG = document.documentElement.lang || "id";
  var CLOCK = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", hour12: false });
  var DAY = new Intl.DateTimeFormat(LANG, { day: "numeric", month: "short" });
  var MOMENT = new Intl.DateTimeFormat(LANG, { day: "numeric", month: "short", hour: "2-digit",
                                               minute: "2-digit", hour12: false });
  var TIME_LABEL = { id: "Waktu", en: "Time" }[LANG] || "Waktu";

  function timeTicks(u, splits, axisIdx, space, increment) {
    var format = increment >= 86400 ? DAY : CLOCK;
    return splits.map(function (t) { return t === null ? "" : format.format(new Date(t * 1000)); });
  }

  function timeValue(u, t) { return t === null ? "--" : MOMENT.format(new Date(t * 1000)); }

  function lineChart(el, labels, data, options) {
    options = options || {};
    var time = options.time !== false;
    var series = [time ? { label: TIME_LABEL, value: timeValue } : {}];
    labels.forEach(function (label, i) {
      series.push({
        label: label, stroke: COLOURS[i % COLOURS.length], width: 2,
        scale: (options.scales && options.scales[i]) || "y",
        dash: options.dashed && options.dashed[i] ? [6, 4] : undefined,
        paths: options.bars && options.bars[i] ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        fill: options.bars && options.bars[i] ? "rgba(11,79,138,.35)" : undefined,
      });
    });
    var axes = [time ? { values: timeTicks } : {}, { scale: "y", size: 70 }];
    var scales = { x: { time: time } };
    if (options.lastSeconds) {
      // A fixed window ending now: a few samples do not stretch over years.
      scales.x.range = function () {
        var now = Date.now() / 1000;
        return [now - options.lastSeconds, now];
      };
    }
    if (options.secondAxis) {
      axes.push({ scale: "y2", side: 1, size: 60, grid: { show: false } });
      scales.y2 = { auto: true };
    }
    var chart = new uPlot({ width: width(el), height: 240, series: series, axes: axes,
                            scales: scales }, data, el);
    window.addEventListener("resize", function () {
      chart.setSize({ width: width(el), height: 240 });
    });
    return chart;
  }

  function readJson(el, name) {
    var raw = el.getAttribute(name);
    return raw ? JSON.parse(raw) : null;
  }

  function days(isoDays) {
    return isoDays.map(function (d) { return Date.parse(d + "T00:00:00") / 1000; });
  }

  return { lineChart: lineChart, readJson: readJson, days: days };
})();
