"""The capacity planner page: the projection drawn, and the cap the deadline needs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin.access import admin_render, page
from portal.admin.figures import calendar_facts, counts
from portal.admin.planner import PlanInput, project
from portal.i18n import N_, language_of
from portal.state import state_of
from portal.times import local_date
from scheduler.calendar import holiday_calendar

BAD = N_("Nilai tidak valid.")


def _known(request: Request) -> dict[str, Any]:
    state = state_of(request)
    settings = state.settings
    with state.db() as session:
        totals = counts(session, settings.tz)
        facts = calendar_facts(session, settings.room, settings.tz)
    return {"totals": totals, "facts": facts}


def _parse(query: dict[str, str], defaults: dict[str, Any]) -> tuple[dict[str, Any],
                                                                     dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, default in defaults.items():
        raw = query.get(name, "").strip().replace(",", ".")
        if not raw:
            values[name] = default
            continue
        try:
            if isinstance(default, dt.date):
                values[name] = dt.date.fromisoformat(raw)
            elif isinstance(default, int):
                values[name] = int(raw)
            else:
                values[name] = float(raw)
        except ValueError:
            errors[name] = BAD
            values[name] = default
    for name in ("roster_size", "through"):
        if values[name] < 0:
            errors[name] = BAD
    for name in ("cap", "session_minutes", "hours_per_day"):
        if values[name] <= 0:
            errors[name] = BAD
    if not 0 < values["utilisation"] <= 1:
        errors["utilisation"] = BAD
    if values["holiday_weight"] < 0:
        errors["holiday_weight"] = BAD
    if values["deadline"] < values["start"]:
        errors["deadline"] = N_("Tenggat harus sesudah tanggal mulai.")
    return values, errors


@page("operator")
async def planner_page(request: Request) -> Response:
    state = state_of(request)
    settings = state.settings
    known = await run_in_threadpool(_known, request)
    config = await state.room.config()
    today = dt.datetime.now(settings.tz).date()
    facts = known["facts"]
    if config.closes_at:
        deadline = dt.datetime.fromtimestamp(config.closes_at, settings.tz).date()
    elif facts.window_end is not None:
        deadline = facts.window_end.astimezone(settings.tz).date()
    else:
        deadline = today + dt.timedelta(days=14)
    defaults: dict[str, Any] = {
        "roster_size": known["totals"].roster_size, "through": known["totals"].submissions_total,
        "start": today, "deadline": deadline, "cap": config.max_active,
        "session_minutes": float(config.expected_session_minutes),
        "hours_per_day": 10.0, "utilisation": 0.8, "holiday_weight": facts.holiday_weight,
    }
    values, errors = _parse(dict(request.query_params), defaults)
    context: dict[str, Any] = {"values": values, "errors": errors, "projection": None,
                               "uses_calendar": bool(facts.open_hours)}
    if not errors:
        holidays = facts.holidays or holiday_calendar(
            range(values["start"].year, values["deadline"].year + 2))
        plan = PlanInput(**values, holidays=holidays, hours_by_weekday=facts.open_hours,
                         weight_overrides=facts.weight_overrides)
        projection = project(plan)
        context["projection"] = projection
        shown = [d for d in projection.days if d.day <= max(values["deadline"],
                                                            projection.finish or today)]
        lang = language_of(request)
        context["dates"] = {
            "deadline": local_date(values["deadline"], locale=lang),
            "finish": local_date(projection.finish, locale=lang) if projection.finish else None,
            "finish_with_cap": local_date(projection.finish_with_cap, locale=lang)
            if projection.finish_with_cap else None,
            "days": {d.day: local_date(d.day, locale=lang) for d in shown},
        }
        context["margin_days"] = (abs((values["deadline"] - projection.finish).days)
                                  if projection.finish else None)
        context["shown_days"] = shown
        context["chart"] = {
            "days": [d.day.isoformat() for d in shown],
            "cumulative": [d.cumulative for d in shown],
            "capacity": [d.capacity for d in shown],
            "remaining": projection.remaining,
            "deadline": values["deadline"].isoformat(),
            "finish": projection.finish.isoformat() if projection.finish else None,
            "marks": {"deadline": context["dates"]["deadline"],
                      "finish": context["dates"]["finish"]},
        }
        context["holidays_in_window"] = [d for d in shown if d.holiday]
    return admin_render(request, "admin/planner.html", context, status=422 if errors else 200)


routes = [Route("/admin/perencana", planner_page, methods=["GET"])]
