"""The pre-queue's order at opening: drawn by one process, written whole, sealed once.

Drawing and writing a million numbers takes seconds, longer than a tick's lock, so
one process draws while the others tick on (``with_draw_lock``). Each draw writes its
own list, named by its seed (``write_and_seal``): even two processes drawing at once
(one that outlived its lock) can never mix their orders, and the seal script takes
one list whole or nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from waitroom.keys import RoomKeys
from waitroom.prequeue import draw_of

# How long one process may take to draw and seal the pre-queue's order.
DRAW_LOCK_MS = 120_000
# Numbers per RPUSH while the order is written.
BATCH = 10_000


async def with_draw_lock(client: Any, keys: RoomKeys,
                         work: Callable[[], Awaitable[bool]]) -> bool:
    """Run ``work`` as the one process drawing; False at once when another one is."""
    token = secrets.token_hex(8)
    if not await client.set(keys.draw_lock, token, nx=True, px=DRAW_LOCK_MS):
        return False
    try:
        return await work()
    finally:
        held = await client.get(keys.draw_lock)
        if held in (token, token.encode()):
            await client.delete(keys.draw_lock)


async def write_and_seal(client: Any, keys: RoomKeys, seal: Any, room_keys: list[str],
                         seed: str, last: int, now_ms: Callable[[], int]) -> int:
    """Write the order of the numbers 1..``last`` drawn under ``seed`` to its own list and
    seal it: the seal script's answer (1 sealed now, 0 sealed before, -1 stale)."""
    drawn = keys.drawn(seed)
    await client.delete(drawn)
    # A second of CPU for a million: in a thread, so the process's other requests and
    # ticks are not held up meanwhile.
    order = await asyncio.to_thread(lambda: list(draw_of(seed, last).order()))
    try:
        for start in range(0, len(order), BATCH):
            await client.rpush(drawn, *order[start:start + BATCH])
            if not start:  # a draw cut short leaves nothing behind for long
                await client.pexpire(drawn, DRAW_LOCK_MS)
        return int(await seal(keys=[*room_keys, drawn], args=[now_ms(), last, seed]))
    finally:
        await client.unlink(drawn)  # once sealed it was renamed: nothing to remove
