"""Prometheus metrics at /metrics, for operators and the monitoring address range."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin.access import bearer_actor, session_actor
from portal.admin.dashboard import LiveFigures, live_figures
from portal.attempts import REGISTRY as ATTEMPT_COUNTERS
from portal.errors import json_error
from portal.notify.models import Notification
from portal.state import state_of


class _Snapshot(Collector):
    """Figures read once per scrape (they live in Redis and SQL, not in this process)."""

    def __init__(self, figures: LiveFigures, notifications: dict[str, int]) -> None:
        self.figures = figures
        self.notifications = notifications

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        yield GaugeMetricFamily("antrean_queue_waiting", "Visitors waiting in the queue",
                                value=f.waiting)
        yield GaugeMetricFamily("antrean_active_sessions",
                                "Places taken: form sessions plus unclaimed admissions",
                                value=f.active)
        yield GaugeMetricFamily("antrean_max_active", "The cap on places", value=f.cap)
        yield GaugeMetricFamily("antrean_paused", "1 while admission is paused",
                                value=1 if f.paused else 0)
        yield CounterMetricFamily("antrean_admissions", "Visitors admitted in total",
                                  value=f.admitted_total)
        yield GaugeMetricFamily("antrean_admissions_per_minute",
                                "Visitors admitted in the last minute",
                                value=f.admitted_per_minute)
        waits = GaugeMetricFamily("antrean_wait_seconds",
                                  "Wait of visitors admitted in the last 15 minutes",
                                  labels=["quantile"])
        for quantile, value in (("0.5", f.wait_median_s), ("0.9", f.wait_p90_s)):
            if value is not None:
                waits.add_metric([quantile], value)
        yield waits
        latency = GaugeMetricFamily("antrean_form_latency_seconds",
                                    "Form response time over the last minute",
                                    labels=["quantile"])
        if f.form_p95_ms is not None:
            latency.add_metric(["0.95"], f.form_p95_ms / 1000)
        yield latency
        notes = GaugeMetricFamily("antrean_notifications", "Notifications by status",
                                  labels=["status"])
        for status, number in sorted(self.notifications.items()):
            notes.add_metric([status], number)
        yield notes


def _notification_counts(request: Request) -> dict[str, int]:
    with state_of(request).db() as session:
        rows = session.execute(select(Notification.status, func.count())
                               .group_by(Notification.status)).all()
    return {str(status): int(number) for status, number in rows}


async def _allowed(request: Request) -> bool:
    host = request.client.host if request.client else None
    if state_of(request).admin.metrics_allowed_from(host):
        return True
    actor = await session_actor(request) or await bearer_actor(request)
    return actor is not None and actor.allows("operator")


async def metrics(request: Request) -> Response:
    if not await _allowed(request):
        return json_error(403, "forbidden", "Metrik hanya untuk operator.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await live_figures(request),
                                await run_in_threadpool(_notification_counts, request)))
    body = generate_latest(registry) + generate_latest(ATTEMPT_COUNTERS)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
