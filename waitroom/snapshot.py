"""A process-local picture of a room, read in one round trip and reused for half a second.

Most status polls come from visitors far back in the queue. Their answer depends
only on the room as a whole (where the admission walk stands, the settings, the
recent outflow), so each process reads that once and answers them without a
Redis call per request; visitors near the front still ask Redis directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis, RedisCluster

from waitroom.config import RoomConfig
from waitroom.eta import measured_rate
from waitroom.keys import RoomKeys


def _int(value: object, default: int = 0) -> int:
    """Decode an integer reply (bytes, str or number); None gives ``default``."""
    if value is None:
        return default
    if isinstance(value, bytes):
        value = value.decode()
    return int(float(str(value)))


@dataclass(frozen=True)
class RoomSnapshot:
    """The room as one process last read it."""

    taken_at: float  # monotonic seconds
    config: RoomConfig
    head: int
    seq: int
    returning: int
    order_left: int
    sealed: int  # last pre-queue number once drawn; -1 before the draw; 0 without pre-queue
    seed: str | None
    holders: frozenset[int]  # numbers admitted or in a session (some out of queue order)
    stats: dict[str, int]
    active: int
    admitted: int
    outflow: tuple[int, ...]
    measured_rate: float | None  # admissions per minute over the last minutes, if enough data

    def stat(self, name: str) -> int:
        """A counter of the room's stats hash (0 when absent)."""
        return self.stats.get(name, 0)


async def read_snapshot(
    client: Redis | RedisCluster, keys: RoomKeys, taken_at: float, now_ms: int
) -> RoomSnapshot:
    """Read everything a snapshot holds in one pipelined round trip."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.key("config"))
        pipe.get(keys.key("head"))
        pipe.get(keys.key("seq"))
        pipe.llen(keys.key("returning"))
        pipe.llen(keys.key("order"))
        pipe.hgetall(keys.key("stats"))
        pipe.zrange(keys.key("admitted"), 0, -1)
        pipe.hvals(keys.key("sessions"))
        pipe.lrange(keys.key("outflow"), 0, 999)
        (config_raw, head, seq, returning, order_left, stats_raw, admitted, sessions,
         outflow) = await pipe.execute()
    config = RoomConfig.from_redis(config_raw)
    stats: dict[str, int] = {}
    seed: str | None = None
    for raw_key, raw_value in stats_raw.items():
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        if key == "prequeue_seed":
            seed = raw_value.decode() if isinstance(raw_value, bytes) else str(raw_value)
            continue
        try:
            stats[key] = _int(raw_value)
        except ValueError:
            continue
    if not config.opens_at:
        sealed = 0
    else:
        sealed = stats.get("prequeue_sealed", -1)
    holders: set[Any] = {_int(n) for n in admitted} | {_int(n) for n in sessions}
    times = tuple(_int(t) for t in outflow)
    return RoomSnapshot(
        taken_at=taken_at,
        config=config,
        head=_int(head, 1),
        seq=_int(seq, 0),
        returning=_int(returning),
        order_left=_int(order_left),
        sealed=sealed,
        seed=seed,
        holders=frozenset(holders),
        stats=stats,
        active=len(sessions),
        admitted=len(admitted),
        outflow=times,
        measured_rate=measured_rate(times, now_ms),
    )
