"""Prometheus metrics at /metrics, for operators and the monitoring address range.

Names follow Prometheus' conventions: counters end in ``_total``, units are in
the names, request latency and the admission wait are histograms. A scrape reads
the room's figures, its wait histogram and the notification outcomes from Redis (a
few commands) and no SQL: waits are counted by the room's scripts as they admit
(waitroom.waits) and outcomes by the jobs as they happen (portal.notify.jobs), not
by a count over the notifications table. The room's and the notifications' figures are the same
whichever process answers (they live in Redis); aggregate them with ``max``,
not ``sum``, across targets. The requests' and the process figures are the
web server's own (portal.telemetry).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin.access import bearer_actor, session_actor
from portal.admin.dashboard import LiveFigures, live_figures
from portal.browser import client_address
from portal.errors import json_error
from portal.notify.jobs import OUTCOMES
from portal.state import state_of
from portal.telemetry import process_exposition
from waitroom.waits import WaitHistogram

log = logging.getLogger("antrean.admin")
CHANNELS = ("email", "sms")


class _Snapshot(Collector):
    """Figures read once per scrape from Redis (they live there, not in this process)."""

    def __init__(self, figures: LiveFigures | None, waits: WaitHistogram | None,
                 outcomes: dict[str, int]) -> None:
        self.figures = figures
        self.waits = waits
        self.outcomes = outcomes

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("antrean_redis_up", "1 when the room's Redis answered this scrape",
                                value=0 if self.figures is None else 1)
        if self.figures is not None:
            yield from _room_figures(self.figures)
        if self.waits is not None:
            yield _wait_histogram(self.waits)
        notes = CounterMetricFamily("antrean_notifications",
                                    "Notification deliveries by channel and outcome "
                                    "(sent, retried, failed, refused)",
                                    labels=["channel", "outcome"])
        # every outcome from zero, so a rate over it exists before the first failure
        counted = {f"{channel}:{outcome}": 0 for channel in CHANNELS for outcome in OUTCOMES}
        counted.update(self.outcomes)
        for field, number in sorted(counted.items()):
            channel, _, outcome = field.partition(":")
            notes.add_metric([channel, outcome], number)
        yield notes


def _room_figures(f: LiveFigures) -> Iterator[Metric]:
    yield GaugeMetricFamily("antrean_queue_waiting", "Visitors waiting in the queue",
                            value=f.waiting)
    yield GaugeMetricFamily("antrean_active_sessions",
                            "Places taken: form sessions plus unclaimed admissions",
                            value=f.active)
    yield GaugeMetricFamily("antrean_max_active_sessions", "The cap on places", value=f.cap)
    yield GaugeMetricFamily("antrean_paused", "1 while admission is paused",
                            value=1 if f.paused else 0)
    yield CounterMetricFamily("antrean_admissions", "Visitors admitted in total",
                              value=f.admitted_total)
    # Deprecated for one release: the quantiles of the room's samples (waits inferred,
    # not observed), one gauge each. antrean_admission_wait_seconds replaces them.
    for name, value, what in (
            ("antrean_admission_wait_p50_seconds", f.wait_median_s, "Median"),
            ("antrean_admission_wait_p90_seconds", f.wait_p90_s, "90th percentile")):
        if value is not None:
            yield GaugeMetricFamily(name, f"Deprecated, use antrean_admission_wait_seconds: "
                                    f"{what.lower()} wait of visitors admitted in the last "
                                    "15 minutes", value=value)
    if f.form_p95_ms is not None:
        yield GaugeMetricFamily("antrean_form_latency_p95_seconds",
                                "95th percentile form response time over the last minute "
                                "(what the automatic cap steers by)", value=f.form_p95_ms / 1000)


def _wait_histogram(waits: WaitHistogram) -> Metric:
    bounds = [(floatToGoString(bound), count) for bound, count in waits.buckets]
    return HistogramMetricFamily(
        "antrean_admission_wait_seconds",
        "How long admitted visitors waited, from joining to admission (counted by the room "
        "as it admits)", buckets=bounds, sum_value=waits.sum_seconds)


async def _outcomes(request: Request) -> dict[str, int]:
    state = state_of(request)
    raw = await state.room.client.hgetall(state.keys.notify_outcomes())
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}


async def _allowed(request: Request) -> bool:
    if state_of(request).admin.metrics_allowed_from(client_address(request)):
        return True
    actor = await session_actor(request) or await bearer_actor(request)
    return actor is not None and actor.allows("operator")


async def metrics(request: Request) -> Response:
    if not await _allowed(request):
        return json_error(403, "forbidden", "Metrik hanya untuk operator.")
    figures: LiveFigures | None = None
    waits: WaitHistogram | None = None
    outcomes: dict[str, int] = {}
    try:
        figures = await live_figures(request)
        waits = await state_of(request).room.admission_waits()
        outcomes = await _outcomes(request)
    except Exception as exc:  # Redis away: the scrape still answers, antrean_redis_up 0
        log.warning("metrics without the room's figures: %s", type(exc).__name__)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(figures, waits, outcomes))
    body = generate_latest(registry) + process_exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
