"""The live dashboard: tiles and charts, refreshed by a JSON endpoint every two seconds."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.admin.access import admin_render, page
from portal.admin.autocap import read_config, recent_decisions
from portal.admin.figures import (
    calendar_facts,
    counts,
    slot_heat_map,
    submissions_per_day,
)
from portal.admin.latency import percentile, recent_latencies
from portal.admin.timeseries import (
    Sample,
    admissions_per_minute,
    admitted_today,
    read_samples,
    sample_if_due,
    wait_quantiles,
)
from portal.state import TimedValue, state_of
from waitroom.room import WaitingRoom

CHART_SAMPLES = 720  # one hour at one sample per five seconds
WAIT_WINDOW = 15 * 60  # waits of those admitted in the last quarter hour
WAITS_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class LiveFigures:
    """What the tiles, /status and /metrics show; no personal data."""

    waiting: int
    active: int
    cap: int
    paused: bool
    admitted_total: int
    admitted_today: int | None
    admitted_per_minute: int
    wait_median_s: float | None
    wait_p90_s: float | None
    eta_new_s: int | None
    form_p95_ms: float | None
    form_samples: int


async def _waits(cache: TimedValue, room: WaitingRoom) -> tuple[float | None, float | None]:
    # Reading a day of samples is ~1.5 MB: do it at most every ten seconds per process.
    if cache.fresh(WAITS_CACHE_SECONDS):
        cached: tuple[float | None, float | None] = cache.value
        return cached
    samples = await read_samples(room)
    result = wait_quantiles(samples, time.time() - WAIT_WINDOW)
    cache.set(result)
    return result


async def live_figures(request: Request) -> LiveFigures:
    """The room's live numbers (and a sample for the charts when one is due)."""
    state = state_of(request)
    room = state.room
    tz = state.settings.tz
    # The loop process samples every tick; sampling here too keeps the charts alive
    # when only web processes run (the lock makes it once per interval overall).
    await sample_if_due(room, tz)
    snapshot = await room.current(max_age=1.0)
    now = time.time()
    median, p90 = await _waits(state.dashboard_waits, room)
    latencies = await recent_latencies(room, now - 60)
    waiting = max(0, snapshot.stat("waiting"))
    estimate = room.estimate_from(snapshot, waiting + 1)
    admitted_total = snapshot.stat("admitted_total")
    return LiveFigures(
        waiting=waiting, active=snapshot.active + snapshot.admitted,
        cap=snapshot.config.max_active, paused=snapshot.config.paused,
        admitted_total=admitted_total,
        admitted_today=await admitted_today(room, tz, admitted_total, now),
        admitted_per_minute=admissions_per_minute(snapshot.outflow, int(now * 1000)),
        wait_median_s=median, wait_p90_s=p90,
        eta_new_s=estimate.seconds if estimate else None,
        form_p95_ms=percentile(latencies, 0.95), form_samples=len(latencies),
    )


def _series(samples: list[Sample]) -> dict[str, list[float]]:
    """Columns for uPlot: time, queue, active, cap, admissions per minute."""
    series: dict[str, list[float]] = {"t": [], "waiting": [], "active": [], "cap": [],
                                      "admissions": []}
    previous: Sample | None = None
    for sample in samples:
        series["t"].append(sample.t)
        series["waiting"].append(sample.waiting)
        series["active"].append(sample.active)
        series["cap"].append(sample.cap)
        rate = 0.0
        if previous is not None and sample.t > previous.t:
            rate = max(0, sample.admitted_total - previous.admitted_total) * 60 / (
                sample.t - previous.t)
        series["admissions"].append(round(rate, 1))
        previous = sample
    return series


def _counts(request: Request) -> dict[str, int]:
    state = state_of(request)
    with state.db() as session:
        return asdict(counts(session, state.settings.tz))


@page("viewer")
async def dashboard_json(request: Request) -> Response:
    room = state_of(request).room
    figures = await live_figures(request)
    samples = await read_samples(room, CHART_SAMPLES)
    decisions = list(reversed(await recent_decisions(room, limit=200)))
    autocap = await read_config(room)
    return JSONResponse({
        "tiles": {**asdict(figures), **await run_in_threadpool(_counts, request)},
        "series": _series(samples),
        "autocap": {
            "enabled": autocap.enabled, "target_p95_ms": autocap.target_p95_ms,
            "t": [d.at for d in decisions], "cap": [d.after for d in decisions],
            "p95": [d.p95_ms for d in decisions],
        },
    }, headers={"cache-control": "no-store"})


def _daily(request: Request) -> dict[str, Any]:
    state = state_of(request)
    settings = state.settings
    tz = settings.tz
    with state.db() as session:
        per_day = submissions_per_day(session, tz)
        heat = slot_heat_map(session, settings.room, tz)
        facts = calendar_facts(session, settings.room, tz)
        totals = counts(session, tz)
    return {"per_day": per_day, "heat": heat, "facts": facts, "totals": totals}


@page("viewer")
async def dashboard_page(request: Request) -> Response:
    state = state_of(request)
    daily = await run_in_threadpool(_daily, request)
    config = await state.room.config()
    tz = state.settings.tz
    deadline: dt.datetime | None = None
    if config.closes_at:
        deadline = dt.datetime.fromtimestamp(config.closes_at, tz)
    elif daily["facts"].window_end is not None:
        deadline = daily["facts"].window_end.astimezone(tz)
    remaining = max(0, daily["totals"].roster_size - daily["totals"].submissions_total)
    needed = None
    if deadline is not None:
        days_left = (deadline.date() - dt.datetime.now(tz).date()).days + 1
        needed = remaining / days_left if days_left > 0 else float(remaining)
    chart = {"days": [day.isoformat() for day, _ in daily["per_day"]],
             "submitted": [n for _, n in daily["per_day"]],
             "needed": needed}
    return admin_render(request, "admin/dashboard.html", {
        "heat": daily["heat"], "per_day_chart": chart, "deadline": deadline,
        "needed": needed, "remaining": remaining,
    })


routes = [
    Route("/admin", dashboard_page, methods=["GET"]),
    Route("/admin/api/dasbor", dashboard_json, methods=["GET"]),
]
