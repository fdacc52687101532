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
"""

from __future__ import annotations

import os
import shutil
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

from portal.logs import route_of

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


_series: dict[tuple[str, str, int], Any] = {}  # the histogram's children, looked up once


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered request by method, route template and status."""
    method = scope["method"] if scope["method"] in _METHODS else "OTHER"
    key = (method, route_label(scope), status or 500)
    series = _series.get(key)
    if series is None:
        series = _series[key] = REQUEST_DURATION.labels(method=key[0], route=key[1],
                                                        status=str(key[2]))
    series.observe(seconds)


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
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry)
    # CPU, memory and file figures are of the worker that answered the scrape.
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return generate_latest(registry)


for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)
