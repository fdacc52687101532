"""Redis memory per waiting visitor, measured on a flushed private server."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from redis.typing import EncodableT, FieldT

from waitroom.config import RoomConfig
from waitroom.keys import RoomKeys
from waitroom.scripts import register_scripts


@dataclass(frozen=True)
class MemoryResult:
    """``used_memory`` before and after enqueueing ``visitors`` waiting visitors."""

    visitors: int
    before_bytes: int
    after_bytes: int
    bytes_per_visitor: float
    marks_key_bytes: int
    seconds: float


def used_memory(client: redis.Redis) -> int:
    """Redis' own count of the bytes it allocated (``INFO memory`` used_memory)."""
    return int(client.info("memory")["used_memory"])


def measure_memory(client: redis.Redis, visitors: int = 1_000_000,
                   batch: int = 10_000) -> MemoryResult:
    """Flush ``client``'s server, then join ``visitors`` visitors with the room's own script.

    max_active is 1, so after the first visitor (joined before measuring) nobody
    else is admitted: every measured visitor is waiting, without contact details.
    """
    client.flushall()
    keys = RoomKeys(prefix="bench", room="memory")
    settings = RoomConfig().changed(max_active=1).to_redis()
    config: dict[FieldT, EncodableT] = {name: value for name, value in settings.items()}
    client.hset(keys.key("config"), mapping=config)
    scripts = register_scripts(client)
    # ARGV[2] = 0: no per-address join limit, so the bucket and proof keys are never written.
    script_keys = [*keys.all(), keys.join_bucket("-"), keys.join_proof("-")]
    scripts.join(keys=script_keys, args=[int(time.time() * 1000), 0])
    before = used_memory(client)
    started = time.perf_counter()
    done = 0
    while done < visitors:
        size = min(batch, visitors - done)
        now_ms = int(time.time() * 1000)
        with client.pipeline(transaction=False) as pipe:
            for _ in range(size):
                scripts.join(keys=script_keys, args=[now_ms, 0], client=pipe)
            pipe.execute()
        done += size
    seconds = time.perf_counter() - started
    after = used_memory(client)
    waiting = int(client.hget(keys.key("stats"), "waiting") or 0)
    if waiting != visitors:
        raise RuntimeError(f"expected {visitors} waiting visitors, Redis counts {waiting}")
    return MemoryResult(
        visitors=visitors,
        before_bytes=before,
        after_bytes=after,
        bytes_per_visitor=(after - before) / visitors,
        marks_key_bytes=int(client.memory_usage(keys.key("marks")) or 0),
        seconds=seconds,
    )
