"""The operators' JSON API: live waiting-room settings."""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.api import json_body
from portal.errors import ApiError
from portal.queueing import room_of
from waitroom.config import ConfigError, RoomConfig

PUBLIC_FIELDS = (
    "max_active", "admit_per_minute", "session_ttl_seconds", "idle_timeout_seconds",
    "claim_window_seconds", "booked_share", "stale_after_seconds", "return_grace_seconds",
    "expected_session_minutes", "paused", "opens_at", "closes_at",
)


def require_operator(request: Request) -> str:
    """Return who is calling, or raise 401/403: a bearer token is required."""
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise ApiError(401, "unauthenticated", "Perlu token operator (Authorization: Bearer).",
                       headers={"WWW-Authenticate": "Bearer"})
    expected = request.app.state.settings.admin_token
    if expected is None or not hmac.compare_digest(presented.encode(), str(expected).encode()):
        raise ApiError(403, "forbidden", "Token operator tidak dikenal.")
    return "api-token"


def _public(config: RoomConfig) -> dict[str, Any]:
    values = asdict(config)
    return {name: values[name] for name in PUBLIC_FIELDS}


async def get_settings(request: Request) -> Response:
    require_operator(request)
    return JSONResponse(_public(await room_of(request).config(max_age=0)))


async def patch_settings(request: Request) -> Response:
    require_operator(request)
    body = await json_body(request)
    unknown = sorted(set(body) - set(PUBLIC_FIELDS))
    if unknown:
        raise ApiError(422, "invalid_fields", "Ada pengaturan yang tidak dikenal.",
                       {name: "Pengaturan tidak dikenal." for name in unknown})
    try:
        updated = await room_of(request).update_config(**body)
    except ConfigError as exc:
        raise ApiError(422, "invalid_fields", "Ada pengaturan yang tidak valid.",
                       exc.fields) from exc
    return JSONResponse(_public(updated))


routes = [
    Route("/api/v1/admin/settings", get_settings, methods=["GET"]),
    Route("/api/v1/admin/settings", patch_settings, methods=["PATCH"]),
]
