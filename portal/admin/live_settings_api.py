"""The operators' JSON API: live waiting-room settings."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.admin.access import audit_settings_change, bearer_actor
from portal.admin.auth import Actor
from portal.errors import ApiError
from portal.i18n import N_, language_of, translations
from portal.routing import route
from portal.state import state_of
from portal.visitor.queue_api import json_body
from scheduler.text import translated
from waitroom.config import ConfigError, RoomConfig

log = logging.getLogger("antrean.admin")

PUBLIC_FIELDS = (
    "max_active", "admit_per_minute", "session_ttl_seconds", "idle_timeout_seconds",
    "claim_window_seconds", "booked_share", "stale_after_seconds", "return_grace_seconds",
    "expected_session_minutes", "paused", "opens_at", "closes_at", "fail_open",
)


async def require_operator(request: Request) -> Actor:
    """Return who is calling, or raise 401/403: a bearer token is required."""
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError(401, "unauthenticated", "Perlu token operator (Authorization: Bearer).",
                       headers={"WWW-Authenticate": "Bearer"})
    # ANTREAN_ADMIN_TOKEN or a token made in the admin console.
    actor = await bearer_actor(request)
    if actor is None:
        raise ApiError(403, "forbidden", "Token operator tidak dikenal.")
    return actor


def refused(request: Request, message: str, fields: dict[str, str], *,
            status: int = 422, code: str = "invalid_fields") -> ApiError:
    """The 422 (or 409) naming each bad setting, in the caller's language (``?lang=en``)."""
    gettext = translations(language_of(request)).gettext
    return ApiError(status, code, translated(message, gettext),
                    {name: translated(text, gettext) for name, text in fields.items()})


def _public(config: RoomConfig) -> dict[str, Any]:
    values = asdict(config)
    return {name: values[name] for name in PUBLIC_FIELDS}


async def get_settings(request: Request) -> Response:
    await require_operator(request)
    return JSONResponse(_public(await state_of(request).room.config(max_age=0)))


async def patch_settings(request: Request) -> Response:
    state = state_of(request)
    actor = await require_operator(request)
    body = await json_body(request, required=True)
    unknown = sorted(set(body) - set(PUBLIC_FIELDS))
    if unknown:
        raise refused(request, N_("Ada pengaturan yang tidak dikenal."),
                      {name: N_("Pengaturan tidak dikenal.") for name in unknown})
    before = await state.room.config(max_age=0)
    try:
        updated = await state.room.update_config(**body)
    except ConfigError as exc:
        if exc.conflict:
            # Each value is within its range; applied to the settings in force they would
            # contradict each other: the PATCH conflicts with the resource's state.
            raise refused(request, N_("Pengaturan ini bertentangan dengan pengaturan lain."),
                          exc.fields, status=409, code="conflicting_settings") from exc
        raise refused(request, N_("Ada pengaturan yang tidak valid."), exc.fields) from exc
    try:
        await run_in_threadpool(audit_settings_change, request, actor, asdict(before),
                                asdict(updated))
    except SQLAlchemyError as exc:
        # The cap must stay tunable while the database struggles (that is when it
        # matters most); the missing entry is logged loudly instead.
        log.error("audit entry for a settings change not written: %s", type(exc).__name__)
    return JSONResponse(_public(updated))


routes = [
    route("/api/v1/admin/settings", {"GET": get_settings, "PATCH": patch_settings}),
]
