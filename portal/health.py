"""Liveness and readiness probes."""

from __future__ import annotations

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.state import state_of


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _database_answers(request: Request) -> None:
    with state_of(request).engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def readyz(request: Request) -> Response:
    checks: dict[str, str] = {}
    try:
        await state_of(request).redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the probe must answer
        checks["redis"] = type(exc).__name__
    try:
        await run_in_threadpool(_database_answers, request)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = type(exc).__name__
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
