"""Baseline ASGI apps: what a bare Starlette endpoint and one Redis Lua call cost.

Served by uvicorn exactly like the portal: ``bench.baseline:bare_app`` and
``bench.baseline:lua_app --factory`` (Redis URL from ``BENCH_REDIS_URL``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

INCR_SCRIPT = "return redis.call('INCR', KEYS[1])"


async def _bare(request: Request) -> Response:
    return JSONResponse({"status": "ok", "answer": 42})


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def bare_app() -> Starlette:
    """One JSON endpoint, ``GET /bare``, answering a constant small object."""
    return Starlette(routes=[Route("/bare", _bare), Route("/healthz", _healthz)])


async def _lua(request: Request) -> Response:
    count = await request.app.state.incr(keys=[request.app.state.counter_key])
    return JSONResponse({"count": int(count)})


def lua_app() -> Starlette:
    """One endpoint, ``GET /lua``, making exactly one EVALSHA (INCR a key) per request."""
    redis_url = os.environ["BENCH_REDIS_URL"]
    prefix = os.environ.get("BENCH_REDIS_PREFIX", "bench")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The same client options as the portal, so only the work differs.
        client = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2,
                                health_check_interval=10)
        app.state.incr = client.register_script(INCR_SCRIPT)
        app.state.counter_key = f"{prefix}:baseline-counter"
        try:
            yield
        finally:
            await client.aclose()

    return Starlette(
        routes=[Route("/lua", _lua), Route("/healthz", _healthz)], lifespan=lifespan
    )
