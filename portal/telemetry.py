"""The web process's own metrics: requests per route, requests in flight, the process.

Several uvicorn workers share one port, so a scrape reaches one of them at random.
``antrean run`` and ``antrean web`` therefore start the web server with
``PROMETHEUS_MULTIPROC_DIR`` (``var/prometheus``, emptied at each start), and
prometheus_client's multiprocess mode writes every worker's counters and
histograms to files there; a scrape of any worker adds up all of them. We chose
it over counting in Redis: a request costs a few writes to a memory-mapped file
instead of a round trip, and the figures still add up across workers. Each
machine is one Prometheus target; Prometheus adds the machines. Without the
variable (tests, a bare ``uvicorn``) the metrics are this process's own.

A request does not touch prometheus_client itself: its count, its time and the
requests in flight go to ``TALLY``, plain integers and floats, and the web
process's upkeep loop hands them over every half second (a scrape first hands
over its own process's). prometheus_client takes a lock for each value it
changes, four per request; on a status poll that was a sixth of the server's
time. So another worker's figures reach a scrape at most half a second late.
"""

from __future__ import annotations

import os
import shutil
from bisect import bisect_left
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import Scope

from portal.logs import ROUTE_KEY, route_of

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Counters and histograms of this process; in multiprocess mode they also go to files.
REGISTRY = CollectorRegistry(auto_describe=True)

# 5 ms (a status poll from the snapshot) to 10 s (an upload on slow mobile data).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_DURATION = Histogram(
    "antrean_http_request_duration_seconds",
    "Time from a request's arrival to its last byte answered",
    ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
IN_FLIGHT = Gauge(
    "antrean_http_requests_in_flight", "Requests being answered now",
    registry=REGISTRY, multiprocess_mode="livesum")

UNMATCHED = "(unmatched)"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope) -> str:
    """The route template of a request (``/api/v1/queue/{token}``), never the raw path.

    A path no route matched is ``(unmatched)``: a scanner's random paths must not
    each become a series.
    """
    if "endpoint" not in scope:
        return UNMATCHED
    return route_of(scope)


class RequestTally:
    """Requests in flight and answered, counted in this process's memory (see the module).

    ``hand_over`` adds what was counted since the last call to the prometheus_client
    metrics, whose values are those of prometheus_client's own ``observe``: each
    duration in the first bucket whose bound it does not exceed, and the sum.
    """

    def __init__(self, duration: Histogram, in_flight: Gauge) -> None:
        self.duration = duration
        self.in_flight_gauge = in_flight
        self.in_flight = 0
        self._pending: dict[tuple[str, str, int], list[float]] = {}
        self._series: dict[tuple[str, str, int], Any] = {}  # the histogram's children

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count one answered request by method, route template and status."""
        method = scope["method"]
        # a hot path names its route; others are looked up
        key = (method if method in _METHODS else "OTHER",
               scope.get(ROUTE_KEY) or route_label(scope), status or 500)
        counts = self._pending.get(key)
        if counts is None:
            # one count per bucket (the last is +Inf), then the sum
            counts = self._pending[key] = [0] * (len(LATENCY_BUCKETS) + 2)
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def hand_over(self) -> None:
        """Add what was counted to the metrics (in multiprocess mode, to this process's files)."""
        self.in_flight_gauge.set(self.in_flight)
        pending, self._pending = self._pending, {}
        for key, counts in pending.items():
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self.duration.labels(
                    method=key[0], route=key[1], status=str(key[2]))
            # prometheus_client has no call to observe many at once: its buckets and
            # sum, the values its observe() adds to (the same since 0.20, pinned by
            # tests/portal/test_telemetry.py)
            series._sum.inc(counts[-1])
            for bucket, count in zip(series._buckets, counts[:-1], strict=True):
                if count:
                    bucket.inc(count)


TALLY = RequestTally(REQUEST_DURATION, IN_FLIGHT)


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when this process runs in it."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(var_dir: Path, env: MutableMapping[str, str]) -> None:
    """Empty ``var/prometheus`` and name it in ``env`` for the web server about to start.

    Files of processes from an earlier run would otherwise be added to this one's.
    """
    directory = var_dir / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    env[MULTIPROC_ENV] = str(directory)


def process_exposition() -> bytes:
    """Every process-wide metric: all workers' requests and guesses, and this process."""
    TALLY.hand_over()  # this process's figures as of now, the scrape itself in flight
    try:
        if multiprocess_dir() is None:
            return generate_latest(REGISTRY)
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry)
        # CPU, memory and file figures are of the worker that answered the scrape.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
        return generate_latest(registry)
    finally:
        # Answered, the scrape is no longer in flight: a scrape of another worker before
        # the next hand-over must not count it.
        TALLY.in_flight_gauge.set(TALLY.in_flight - 1)


for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)
