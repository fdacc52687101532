// Small helpers around the vendored uPlot: sizes follow the container, colours fixed.
"use strict";
window.AntreanCharts = (function () {
  var COLOURS = ["#0b4f8a", "#1a7f37", "#b00020", "#c49000"];

  function width(el) { return Math.max(280, el.clientWidth || 600); }

  // Time axes in the page's language and the registration's zone (not the browser's):
  // 24-hour clock within a day, dates beyond, the zone's label beside them.
  var ROOT = document.documentElement;
  var LANG = ROOT.lang || "id";
  var ZONE = ROOT.getAttribute("data-zone") || "Asia/Jakarta";
  var ZONE_LABEL = ROOT.getAttribute("data-zone-label") || "WIB";
  var CLOCK = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", hour12: false,
                                              timeZone: ZONE });
  var DAY = new Intl.DateTimeFormat(LANG, { day: "numeric", month: "short", timeZone: ZONE });
  var MOMENT = new Intl.DateTimeFormat(LANG, { day: "numeric", month: "short", hour: "2-digit",
                                               minute: "2-digit", hour12: false, timeZone: ZONE });
  var TIME_LABEL = ({ id: "Waktu", en: "Time" }[LANG] || "Waktu") + " (" + ZONE_LABEL + ")";

  function clock(date) { return CLOCK.format(date) + " " + ZONE_LABEL; }

  function timeTicks(u, splits, axisIdx, space, increment) {
    var format = increment >= 86400 ? DAY : CLOCK;
    return splits.map(function (t) { return t === null ? "" : format.format(new Date(t * 1000)); });
  }

  function timeValue(u, t) {
    return t === null ? "--" : MOMENT.format(new Date(t * 1000)) + " " + ZONE_LABEL;
  }

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
    if (options.zero) {
      // Counts start at zero on every axis: a tall bar is tall, not an artefact of the range.
      var fromZero = function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; };
      scales.y = { range: fromZero };
      if (options.secondAxis) { scales.y2 = { range: fromZero }; }
    }
    var marks = options.marks || [];
    var hooks = { draw: [function (u) {
      // Vertical lines with a label: the deadline, the projected finish.
      var ctx = u.ctx;
      marks.forEach(function (mark, i) {
        var x = u.valToPos(mark.x, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
        ctx.save();
        ctx.strokeStyle = mark.colour || COLOURS[2];
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.setLineDash(mark.dashed ? [6 * devicePixelRatio, 4 * devicePixelRatio] : []);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        ctx.font = (12 * devicePixelRatio) + "px sans-serif";
        ctx.textAlign = x > u.bbox.left + u.bbox.width / 2 ? "right" : "left";
        var pad = (ctx.textAlign === "right" ? -4 : 4) * devicePixelRatio;
        ctx.fillText(mark.label, x + pad, u.bbox.top + (14 + 16 * i) * devicePixelRatio);
        ctx.restore();
      });
    }] };
    var chart = new uPlot({ width: width(el), height: 240, series: series, axes: axes,
                            scales: scales, hooks: hooks, tzDate: function (ts) {
                              return uPlot.tzDate(new Date(ts * 1000), ZONE);
                            } }, data, el);
    el.antreanChart = chart;
    el.antreanMarks = marks;
    window.addEventListener("resize", function () {
      chart.setSize({ width: width(el), height: 240 });
    });
    return chart;
  }

  function readJson(el, name) {
    var raw = el.getAttribute(name);
    return raw ? JSON.parse(raw) : null;
  }

  // Midnight of each day in the registration's zone (Indonesia keeps no summer time),
  // so a day's bar stands on its own date's tick whatever the browser's zone.
  var OFFSET_SECONDS = Number(ROOT.getAttribute("data-zone-offset") || 420) * 60;
  function days(isoDays) {
    return isoDays.map(function (d) {
      return Date.parse(d + "T00:00:00Z") / 1000 - OFFSET_SECONDS;
    });
  }

  return { lineChart: lineChart, readJson: readJson, days: days, clock: clock };
})();
