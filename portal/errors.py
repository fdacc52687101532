"""Clear errors for people and programs: Indonesian pages, JSON bodies, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    CrossSlotTransactionError,
    InvalidPipelineStack,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from portal.i18n import N_
from portal.logs import REQUEST_ID
from portal.routing import allowed_methods

log = logging.getLogger("antrean.portal")

RETRY_AFTER_SECONDS = 10

MESSAGES = {
    400: N_("Permintaan tidak dapat dibaca."),
    401: N_("Token tidak sah."),
    403: N_("Akses ditolak."),
    404: N_("Halaman tidak ditemukan."),
    405: N_("Metode tidak diizinkan."),
    408: N_("Data tidak terkirim utuh. Periksa sambungan Anda lalu kirim lagi."),
    409: N_("Terjadi konflik dengan data yang ada."),
    413: N_("Data yang dikirim terlalu besar."),
    422: N_("Data tidak valid."),
    429: N_("Terlalu banyak permintaan. Coba lagi sebentar lagi."),
    500: N_("Terjadi kesalahan pada server."),
    503: N_("Layanan sedang tidak tersedia. Coba lagi sebentar lagi."),
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
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(status, "Terjadi kesalahan.")
        self.fields = fields or {}
        self.headers = headers or {}
        # More members of the error object, for the errors that carry them (a challenge).
        self.details = details or {}


def json_error(
    status: int,
    code: str,
    message: str | None = None,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    """Return the JSON error body every API error uses."""
    body = {
        "error": {
            "code": code,
            "message": message or MESSAGES.get(status, "Terjadi kesalahan."),
            "fields": fields or {},
            **(details or {}),
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
        {"status": status, "code": code, "message": message or MESSAGES.get(status),
         "request_id": REQUEST_ID.get(), **context},
        status_code=status,
        headers=headers,
    )


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.code, exc.message, exc.fields, exc.headers, exc.details)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        exc.status_code, "http_error"
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Every method of the path, not only those of the route that answered.
        declared = {method.strip() for method in headers.get("Allow", "").split(",")}
        methods = (declared | allowed_methods(request.app.routes, request.scope)) - {""}
        headers["Allow"] = ", ".join(sorted(methods))
    return error_page(request, exc.status_code, code, headers=headers)


async def handle_unavailable(request: Request, exc: Exception) -> Response:
    # Fail closed: a door that cannot count must not open.
    if isinstance(exc, (CrossSlotTransactionError, InvalidPipelineStack)):
        # Keys of several hash tags in one transaction: a bug, not a failover.
        log.error("Redis Cluster refused a command: %s", exc, exc_info=exc)
        return error_page(request, 500, "internal", MESSAGES[500])
    log.warning("dependency unavailable: %s", type(exc).__name__)
    return error_page(
        request,
        503,
        "unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        retry_after=RETRY_AFTER_SECONDS,
    )


# Error codes a Redis answers while a failover moves its data; inside a Lua script
# (Redis before 7) they come wrapped in "Error running script ...: -READONLY ...".
_FAILOVER_REPLIES = ("READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "LOADING")


async def handle_redis_reply(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ResponseError)
    text = str(exc)
    if any(text.startswith(code) or f"-{code} " in text for code in _FAILOVER_REPLIES):
        return await handle_unavailable(request, exc)
    log.error("Redis refused a command: %s", text, exc_info=exc)
    return error_page(request, 500, "internal", MESSAGES[500])


async def handle_database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated or "connect" in str(exc.orig).lower():
        return await handle_unavailable(request, exc)
    log.exception("database error")
    return error_page(request, 500, "internal", MESSAGES[500])


class BodyRefused(Exception):
    """A request body cut off while it was read (portal.bodies answers for it)."""


async def handle_body_refused(request: Request, exc: Exception) -> Response:
    # portal.bodies drops this answer and sends its own 413 or 408.
    return Response(status_code=400)


async def handle_client_gone(request: Request, exc: Exception) -> Response:
    # The client closed the connection mid-request: nobody reads an answer, and it is
    # not the portal's error (mobile data drops; a tab is closed).
    log.info("client went away before the request was read")
    return Response(status_code=400)


def closed_transport(exc: BaseException) -> bool:
    """Whether ``exc`` is uvloop refusing a write on a connection the other side closed.

    A Redis node killed in a failover closes its connections; a client that writes on
    one before reading from it (a reconnect's handshake, a command on a pooled
    connection) gets this RuntimeError from uvloop, where asyncio's own transport
    would have failed the read as a ConnectionError. redis-py lets it through as it is.
    """
    text = str(exc)
    return isinstance(exc, RuntimeError) and text.startswith("unable to perform operation on") \
        and "closed=True" in text


async def handle_runtime_error(request: Request, exc: Exception) -> Response:
    if closed_transport(exc):
        return await handle_unavailable(request, exc)
    return await handle_unexpected(request, exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # Logged here with the request's id (the server logs the trace again on its own).
    log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
    return error_page(request, 500, "internal", MESSAGES[500])


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Exception: handle_unexpected,
    ClientDisconnect: handle_client_gone,
    BodyRefused: handle_body_refused,
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    RedisConnectionError: handle_unavailable,
    RedisTimeoutError: handle_unavailable,
    # While a Redis Cluster or a Sentinel fails over: no node holds a slot yet
    # (CLUSTERDOWN, MASTERDOWN, TRYAGAIN, the client finding no node), or a write
    # reached a primary just demoted to replica (READONLY).
    ClusterError: handle_unavailable,
    ClusterDownError: handle_unavailable,
    TryAgainError: handle_unavailable,
    ReadOnlyError: handle_unavailable,
    RedisClusterException: handle_unavailable,
    ResponseError: handle_redis_reply,
    ConnectionError: handle_unavailable,
    RuntimeError: handle_runtime_error,
    DBAPIError: handle_database_error,
}
