"""The room's upkeep loop in each process: it ticks, and it always lets the process stop."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from redis.asyncio import Redis

from portal.app import stop_upkeep, upkeep
from waitroom.config import RoomConfig
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom
from waitroom.snapshot import RoomSnapshot

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SwallowedCancel(WaitingRoom):
    """A room whose snapshot read turns a cancellation into a timeout.

    That is what ``asyncio.timeout`` in Python 3.11 can do when the cancellation
    and the deadline meet inside a Redis call: the loop sees a TimeoutError, an
    ordinary failure it rides out, and the cancellation is gone.
    """

    reads = 0

    async def refresh(self) -> RoomSnapshot:
        self.reads += 1
        try:
            await asyncio.sleep(0.3)
        except asyncio.CancelledError:
            raise TimeoutError from None
        return await super().refresh()


async def test_upkeep_ticks_and_stops_at_once(redis_client: redis.Redis, redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    room = WaitingRoom(client, RoomKeys("test", "upkeep"))
    await room.ensure_config(RoomConfig())
    await room.join()  # nobody else is here: the tick admits the first visitor
    stop = asyncio.Event()
    task = asyncio.create_task(upkeep(room, True, stop))
    await asyncio.sleep(1.2)
    assert (await room.stats()).admitted_unclaimed + (await room.stats()).active == 1
    started = time.monotonic()
    assert await stop_upkeep(task, stop, grace=5)
    assert time.monotonic() - started < 1
    await client.aclose()


async def test_a_swallowed_cancellation_does_not_hold_up_the_shutdown(
        redis_client: redis.Redis, redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    room = SwallowedCancel(client, RoomKeys("test", "upkeep"))
    await room.ensure_config(RoomConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(upkeep(room, True, stop))
    while room.reads == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # inside the read that swallows the cancellation
    assert await stop_upkeep(task, stop, grace=5)
    assert task.done() and room.reads == 1
    await client.aclose()


async def test_a_loop_that_never_ends_is_left_behind_after_the_grace() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert not await stop_upkeep(task, asyncio.Event(), grace=0.2)
    assert not task.done()
    released.set()  # let the test's loop close cleanly
    task.cancel()
    await asyncio.wait({task}, timeout=1)
    assert task.done()
