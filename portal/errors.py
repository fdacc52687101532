"""Clear errors for people and programs: Indonesian pages, JSON bodies, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("antrean.portal")

RETRY_AFTER_SECONDS = 10

MESSAGES = {
    400: "Permintaan tidak dapat dibaca.",
    401: "Token tidak sah.",
    403: "Akses ditolak.",
    404: "Halaman tidak ditemukan.",
    405: "Metode tidak diizinkan.",
    409: "Terjadi konflik dengan data yang ada.",
    413: "Data yang dikirim terlalu besar.",
    422: "Data tidak valid.",
    429: "Terlalu banyak permintaan. Coba lagi sebentar lagi.",
    503: "Layanan sedang tidak tersedia. Coba lagi sebentar lagi.",
}


class ApiError(Exception):
    """An error a JSON client should see as ``{"error": {code, message, fields}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(status, "Terjadi kesalahan.")
        self.fields = fields or {}
        self.headers = headers or {}


def json_error(
    status: int,
    code: str,
    message: str | None = None,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return the JSON error body every API error uses."""
    body = {
        "error": {
            "code": code,
            "message": message or MESSAGES.get(status, "Terjadi kesalahan."),
            "fields": fields or {},
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def wants_json(request: Request) -> bool:
    """Whether the caller is a program (API path or JSON accept header)."""
    return request.url.path.startswith("/api/") or (
        "application/json" in request.headers.get("accept", "")
        and "text/html" not in request.headers.get("accept", "")
    )


def error_page(
    request: Request,
    status: int,
    code: str,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """Return the Indonesian error page (or the JSON error for programs)."""
    if wants_json(request):
        return json_error(status, code, message, headers=headers)
    from portal.i18n import templates_for  # errors load before the app's templates exist

    return templates_for(request).TemplateResponse(
        request,
        "error.html",
        {"status": status, "code": code, "message": message or MESSAGES.get(status), **context},
        status_code=status,
        headers=headers,
    )


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.code, exc.message, exc.fields, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        exc.status_code, "http_error"
    )
    return error_page(request, exc.status_code, code, headers=dict(exc.headers or {}))


async def handle_unavailable(request: Request, exc: Exception) -> Response:
    # Fail closed: a door that cannot count must not open.
    log.warning("dependency unavailable: %s", type(exc).__name__)
    return error_page(
        request,
        503,
        "unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        retry_after=RETRY_AFTER_SECONDS,
    )


async def handle_database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated or "connect" in str(exc.orig).lower():
        return await handle_unavailable(request, exc)
    log.exception("database error")
    return error_page(request, 500, "internal", "Terjadi kesalahan pada server.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    RedisConnectionError: handle_unavailable,
    RedisTimeoutError: handle_unavailable,
    ConnectionError: handle_unavailable,
    DBAPIError: handle_database_error,
}
