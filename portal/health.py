"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.db import code_heads, schema_heads
from portal.form.uploads import upload_store
from portal.redis_clients import AsyncRedisClient
from portal.state import state_of


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _database_checks(request: Request) -> dict[str, str]:
    """The database answers, and its schema is at the migrations this code brings."""
    with state_of(request).engine.connect() as connection:
        found = schema_heads(connection)
    expected = code_heads()
    if found == expected:
        return {"database": "ok", "schema": "ok"}
    # Behind (migrations not run yet) or ahead (old code on a newer schema): either
    # way this process would answer with errors, so it takes no traffic.
    return {"database": "ok",
            "schema": f"at {','.join(sorted(found)) or 'none'}, code needs "
                      f"{','.join(sorted(expected))}"}


def _uploads_check(request: Request) -> str:
    """The configured store takes files: the directory is writable, or the bucket answers."""
    return upload_store(state_of(request).settings).health()


CLUSTER_SLOTS = 16384


async def _redis_check(client: AsyncRedisClient) -> str:
    """The room's Redis answers; a cluster's every primary also sees every slot served."""
    if not isinstance(client, RedisCluster):
        await client.ping()
        return "ok"
    # Asked of several nodes, redis-py answers one CLUSTER INFO per node name.
    answers: dict[str, Any] = dict(await client.cluster_info(
        target_nodes=RedisCluster.PRIMARIES))
    for node, info in sorted(answers.items()):
        state, served = info.get("cluster_state"), int(info.get("cluster_slots_ok", 0))
        if state != "ok":
            return f"cluster_state {state} on {node}"
        if served != CLUSTER_SLOTS:
            return f"{CLUSTER_SLOTS - served} slots not served according to {node}"
    return "ok"


def _queue_check(request: Request) -> str:
    """The job queue's Redis (ANTREAN_JOB_REDIS_URL, or the room's) answers."""
    state_of(request).queue.connection.ping()
    return "ok"


async def readyz(request: Request) -> Response:
    """Ready only when every store this process writes to answers, and the schema fits."""
    checks: dict[str, str] = {}
    try:
        checks["redis"] = await _redis_check(state_of(request).redis)
    except Exception as exc:  # any failure means "not ready"; the probe must answer
        checks["redis"] = type(exc).__name__
    try:
        checks.update(await run_in_threadpool(_database_checks, request))
    except Exception as exc:
        checks["database"] = type(exc).__name__
    for name, check in (("uploads", _uploads_check), ("job_queue", _queue_check)):
        try:
            checks[name] = await run_in_threadpool(check, request)
        except Exception as exc:
            checks[name] = type(exc).__name__
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
