"""The settings page: the room's live settings, the automatic cap and the public banner."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.autocap import AutoCapConfig, read_config, recent_decisions, write_config
from portal.admin.banner import MAX_BANNER, public_banner, set_banner
from portal.i18n import N_
from portal.state import state_of
from portal.web import checked_form
from waitroom.config import ConfigError, RoomConfig

INT_FIELDS = ("max_active", "admit_per_minute", "session_ttl_seconds", "idle_timeout_seconds",
              "claim_window_seconds", "stale_after_seconds")
FLOAT_FIELDS = ("booked_share", "expected_session_minutes")
TIME_FIELDS = ("opens_at", "closes_at")
AUTOCAP_INT = ("min_cap", "max_cap", "target_p95_ms", "increase", "interval_seconds",
               "min_samples")
AUTOCAP_FLOAT = ("decrease_factor",)
NOT_A_NUMBER = N_("Isi dengan angka.")
NOT_A_TIME = N_("Isi dengan tanggal dan jam yang benar.")


def local_input(epoch: int, tz: ZoneInfo) -> str:
    """The value of a datetime-local input for epoch seconds (empty for 0)."""
    if not epoch:
        return ""
    return dt.datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%dT%H:%M")


def parse_local(raw: str, tz: ZoneInfo) -> int:
    """Epoch seconds of a datetime-local value in ``tz`` (0 for empty); ValueError if bad."""
    raw = raw.strip()
    if not raw:
        return 0
    moment = dt.datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp())


def _values(config: RoomConfig, autocap: AutoCapConfig, banner: str | None,
            tz: ZoneInfo) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(config, name) for name in INT_FIELDS + FLOAT_FIELDS}
    values.update({name: local_input(getattr(config, name), tz) for name in TIME_FIELDS})
    values["paused"] = config.paused
    values["fail_open"] = config.fail_open
    values["banner"] = banner or ""
    values.update({f"autocap_{k}": v for k, v in asdict(autocap).items()})
    return values


async def _context(request: Request, **extra: Any) -> dict[str, Any]:
    state = state_of(request)
    room = state.room
    tz = state.settings.tz
    config = await room.config(max_age=0)
    autocap = await read_config(room)
    decisions = await recent_decisions(room, limit=20)
    context = {"values": _values(config, autocap, await public_banner(room), tz),
               "errors": {}, "saved": False, "decisions": decisions,
               "timezone": state.settings.timezone, "max_banner": MAX_BANNER}
    context.update(extra)
    return context


@page("admin")
async def settings_page(request: Request) -> Response:
    return admin_render(request, "admin/settings.html", await _context(request))


def parse_settings(form: dict[str, str], tz: ZoneInfo) -> tuple[
    dict[str, Any], dict[str, Any], dict[str, str]
]:
    """Room changes, automatic-cap values and field errors from the posted form."""
    changes: dict[str, Any] = {}
    autocap: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in INT_FIELDS + FLOAT_FIELDS:
        raw = form.get(name, "").strip().replace(",", ".")
        try:
            changes[name] = int(raw) if name in INT_FIELDS else float(raw)
        except ValueError:
            errors[name] = NOT_A_NUMBER
    for name in TIME_FIELDS:
        try:
            changes[name] = parse_local(form.get(name, ""), tz)
        except ValueError:
            errors[name] = NOT_A_TIME
    changes["paused"] = form.get("paused") == "1"
    changes["fail_open"] = form.get("fail_open") == "1"
    autocap["enabled"] = form.get("autocap_enabled") == "1"
    for name in AUTOCAP_INT + AUTOCAP_FLOAT:
        raw = form.get(f"autocap_{name}", "").strip().replace(",", ".")
        try:
            autocap[name] = int(raw) if name in AUTOCAP_INT else float(raw)
        except ValueError:
            errors[f"autocap_{name}"] = NOT_A_NUMBER
    return changes, autocap, errors


def _audit(request: Request, before: dict[str, Any], after: dict[str, Any]) -> None:
    old, new = audit.changed_values(before, after)
    if not new:
        return
    actor = actor_of(request)
    with state_of(request).db() as session:
        audit.record(session, actor.name, "settings.update", target="room",
                     before=old, after=new, user_id=actor.user_id)
        session.commit()


@page("admin")
async def save_settings(request: Request) -> Response:
    state = state_of(request)
    form = await checked_form(request)
    room = state.room
    tz = state.settings.tz
    changes, autocap_values, errors = parse_settings(form, tz)
    current = await room.config(max_age=0)
    current_autocap = await read_config(room)
    new_autocap = AutoCapConfig(**{**asdict(current_autocap), **autocap_values})
    if not errors:
        try:
            current.changed(**changes)
        except ConfigError as exc:
            errors.update(exc.fields)
        errors.update({f"autocap_{k}": v for k, v in new_autocap.validate().items()})
    banner = form.get("banner", "").strip()[:MAX_BANNER]
    if errors:
        context = await _context(request, errors=errors)
        context["values"].update({k: v for k, v in form.items() if k != "csrf_token"})
        context["values"]["paused"] = changes.get("paused", False)
        context["values"]["fail_open"] = changes.get("fail_open", False)
        context["values"]["autocap_enabled"] = autocap_values.get("enabled", False)
        return admin_render(request, "admin/settings.html", context, status=422)
    before = {**asdict(current), **{f"autocap_{k}": v for k, v in asdict(current_autocap).items()},
              "banner": await public_banner(room) or ""}
    updated = await room.update_config(**changes)
    await write_config(room, new_autocap)
    await set_banner(room, banner)
    after = {**asdict(updated), **{f"autocap_{k}": v for k, v in asdict(new_autocap).items()},
             "banner": banner}
    await run_in_threadpool(_audit, request, before, after)
    return admin_render(request, "admin/settings.html", await _context(request, saved=True))


routes = [
    Route("/admin/pengaturan", settings_page, methods=["GET"]),
    Route("/admin/pengaturan", save_settings, methods=["POST"]),
]
