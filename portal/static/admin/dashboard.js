// The live dashboard: polls the JSON endpoint every two seconds and redraws tiles and charts.
"use strict";
(function () {
  var Charts = window.AntreanCharts;
  var tiles = document.getElementById("tiles");
  if (!tiles) { return; }
  var source = tiles.getAttribute("data-source");
  var liveState = document.getElementById("live-state");
  var queueEl = document.getElementById("chart-queue");
  var autocapEl = document.getElementById("chart-autocap");
  var autocapState = document.getElementById("autocap-state");
  var queueChart = null;
  var autocapChart = null;
  var INTERVAL_MS = 2000;

  var NUMBER = new Intl.NumberFormat(document.documentElement.lang || "id");
  function num(value) { return value === null || value === undefined ? "–" : NUMBER.format(value); }

  function tile(name, text) {
    var el = tiles.querySelector('[data-tile="' + name + '"]');
    if (el) { el.textContent = text; }
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return "–"; }
    if (seconds < 60) { return Math.round(seconds) + " s"; }
    if (seconds < 3600) { return Math.round(seconds / 60) + " m"; }
    return (seconds / 3600).toFixed(1) + " h";
  }

  function showTiles(t) {
    tile("waiting", num(t.waiting));
    tile("active_cap", num(t.active) + " / " + num(t.cap));
    tile("admitted_per_minute", num(t.admitted_per_minute));
    tile("waits", duration(t.wait_median_s) + " / " + duration(t.wait_p90_s));
    tile("form_p95", t.form_p95_ms === null ? "–" : num(Math.round(t.form_p95_ms)) + " ms");
    tile("submissions_today", num(t.submissions_today));
    tile("submissions_total", num(t.submissions_total) + " / " + num(t.roster_size));
    var paused = tiles.querySelector('[data-tile="paused"]');
    paused.textContent = paused.getAttribute(t.paused ? "data-paused" : "data-running");
  }

  function showCharts(body) {
    var s = body.series;
    var queueData = [s.t, s.waiting, s.active, s.cap, s.admissions];
    if (!queueChart) {
      var l = Charts.readJson(queueEl, "data-labels");
      queueChart = Charts.lineChart(queueEl, [l.waiting, l.active, l.cap, l.admissions],
                                    queueData, { dashed: [false, false, true, false],
                                                 scales: ["y", "y", "y", "y2"], secondAxis: true,
                                                 lastSeconds: 3600, zero: true });
    } else {
      queueChart.setData(queueData);
    }
    var a = body.autocap;
    autocapState.textContent = (a.enabled ? autocapState.getAttribute("data-on")
                                          : autocapState.getAttribute("data-off"))
      + " · p95 target " + a.target_p95_ms + " ms";
    var autocapData = [a.t, a.cap, a.p95];
    if (!autocapChart) {
      var m = Charts.readJson(autocapEl, "data-labels");
      autocapChart = Charts.lineChart(autocapEl, [m.cap, m.p95], autocapData,
                                      { scales: ["y", "y2"], secondAxis: true,
                                        lastSeconds: 3600, zero: true });
    } else {
      autocapChart.setData(autocapData);
    }
  }

  function poll() {
    fetch(source, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location = "/admin/masuk?next=/admin"; }
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (body) {
        showTiles(body.tiles);
        showCharts(body);
        liveState.textContent = Charts.clock(new Date());
        liveState.classList.remove("stale");
      })
      .catch(function () { liveState.classList.add("stale"); })
      .finally(function () { window.setTimeout(poll, INTERVAL_MS); });
  }

  var daily = document.getElementById("chart-daily");
  if (daily) {
    var chart = Charts.readJson(daily, "data-chart");
    var labels = Charts.readJson(daily, "data-labels");
    var needed = chart.days.map(function () { return chart.needed; });
    Charts.lineChart(daily, [labels.submitted, labels.needed],
                     [Charts.days(chart.days), chart.submitted, needed],
                     { bars: [true, false], dashed: [false, true], zero: true });
  }
  poll();
})();
