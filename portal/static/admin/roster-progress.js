// Roster import in progress: polls the progress endpoint and moves the bar; once the
// import has ended, reloads the page, which then shows the report (or the error).
"use strict";
(function () {
  var section = document.getElementById("import-job");
  if (!section) { return; }
  var source = section.getAttribute("data-source");
  var bar = document.getElementById("import-progress");
  var status = document.getElementById("import-status");
  var INTERVAL_MS = 1000;
  var failures = 0;

  var noWorker = document.getElementById("no-worker");

  function show(body) {
    noWorker.hidden = !(body.state === "queued" && body.workers === 0);
    if (body.state === "queued") {
      status.textContent = status.getAttribute("data-queued");
    } else if (body.total === null) {
      status.textContent = status.getAttribute("data-reading");
    } else {
      bar.max = Math.max(1, body.total);
      bar.value = body.done;
      bar.textContent = Math.floor(100 * body.done / Math.max(1, body.total)) + "%";
      status.textContent = status.getAttribute("data-running")
        .replace("{done}", body.done).replace("{total}", body.total);
    }
  }

  function poll() {
    fetch(source, { headers: { "Accept": "application/json" }, credentials: "same-origin",
                    cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) {
          window.location = "/admin/masuk?next=" + encodeURIComponent(window.location.pathname);
          throw new Error("logged out");
        }
        if (response.status === 404) {  // expired: the page says so
          window.location.reload();
          throw new Error("gone");
        }
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (body) {
        failures = 0;
        if (body.state === "done" || body.state === "failed") {
          window.location.reload();
          return;
        }
        show(body);
        window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(function () {
        // A restarting server: ask again, less often the longer it lasts.
        failures += 1;
        window.setTimeout(poll, INTERVAL_MS * Math.min(10, 1 + failures));
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
}());
