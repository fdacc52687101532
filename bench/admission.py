"""Time from a place freed (session finished) to the next visitor seeing "admitted"."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from bench.client import Connection
from bench.load import percentile
from bench.visitors import (
    SESSION_COOKIE,
    Visitor,
    enter_request,
    finish_request,
    join_request,
    status_request,
    visitor_of,
)


@dataclass(frozen=True)
class AdmissionResult:
    """Delays (finish answered -> admitted seen by the next visitor's poll), in ms."""

    rounds: int
    poll_interval_ms: float
    p50_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    mean_polls: float


async def _join(conn: Connection, host: str) -> Visitor:
    return visitor_of(await conn.exchange(join_request(host)))


async def _enter(conn: Connection, host: str, visitor: Visitor) -> str:
    reply = await conn.exchange(enter_request(host, visitor))
    if reply.status != 200:
        raise RuntimeError(f"enter answered {reply.status}: {reply.body[:200]!r}")
    return reply.cookies()[SESSION_COOKIE]


async def _poll_until_admitted(conn: Connection, host: str, visitor: Visitor,
                               interval: float) -> tuple[float, int]:
    request = status_request(host, visitor)
    polls = 0
    while True:
        reply = await conn.exchange(request)
        seen = time.perf_counter()
        polls += 1
        if reply.status != 200:
            raise RuntimeError(f"status answered {reply.status}: {reply.body[:200]!r}")
        if reply.json()["state"] == "admitted":
            return seen, polls
        await asyncio.sleep(interval)


async def measure_admission(host: str, port: int, rounds: int = 200,
                            poll_interval: float = 0.02) -> AdmissionResult:
    """Finish a session ``rounds`` times while the next visitor polls every ``poll_interval``.

    Needs a room of its own with max_active=1: the first visitor to join is let in,
    the second waits for the place the first one frees.
    """
    front = await Connection.open(host, port)
    poller = await Connection.open(host, port)
    delays: list[float] = []
    polls: list[int] = []
    try:
        holder = await _join(front, host)
        if holder.state != "admitted":
            raise RuntimeError(f"first visitor of an empty room is {holder.state!r}")
        session = await _enter(front, host, holder)
        waiting = await _join(front, host)
        for _ in range(rounds):
            if waiting.state != "waiting":
                raise RuntimeError(f"next visitor is {waiting.state!r}, not waiting")
            watch = asyncio.create_task(
                _poll_until_admitted(poller, host, waiting, poll_interval)
            )
            # Finish at a random phase of the poll cycle, as a real visitor would.
            await asyncio.sleep(random.uniform(poll_interval, 2 * poll_interval))
            # Timed from the moment the finish request is sent: the place is freed
            # somewhere before its reply, and the next visitor's poll may beat it.
            finished = time.perf_counter()
            reply = await front.exchange(finish_request(host, holder, session))
            if reply.status != 200 or reply.json().get("finished") is not True:
                watch.cancel()
                raise RuntimeError(f"finish answered {reply.status}: {reply.body[:200]!r}")
            seen, count = await asyncio.wait_for(watch, timeout=10)
            delays.append((seen - finished) * 1000)
            polls.append(count)
            holder, session = waiting, await _enter(front, host, waiting)
            waiting = await _join(front, host)
    finally:
        await front.close()
        await poller.close()
    ordered = sorted(delays)
    return AdmissionResult(
        rounds=len(ordered),
        poll_interval_ms=poll_interval * 1000,
        p50_ms=percentile(ordered, 50),
        p99_ms=percentile(ordered, 99),
        min_ms=ordered[0],
        max_ms=ordered[-1],
        mean_polls=sum(polls) / len(polls),
    )
