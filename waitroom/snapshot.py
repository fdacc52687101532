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
from waitroom.eta import Reading
from waitroom.keys import RoomKeys

# Places taken whose admission times one snapshot reads (HRANDFIELD: all of them
# in a room with a cap up to this, an even random sample in a larger one).
SINCE_SAMPLE = 256
# The recent share of numbers that took a place covers between this many and twice as
# many numbers passed; _lib.lua's count_share halves the counts past that.
SHARE_WINDOW = 200


# The priority lane holds the booked visitors of the current slot: a few hundred at most.
LANE_READ = 1000

def _int(value: object, default: int = 0) -> int:
    """Decode an integer reply (bytes, str or number); None gives ``default``."""
    if type(value) is int:  # a Lua number, as hiredis gives it
        return value
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
    lane: frozenset[int]  # booked visitors waiting in the priority lane (their own order)
    stats: dict[str, int]
    active: int
    admitted: int
    outflow: tuple[int, ...]
    reading: Reading  # what the wait estimate is worked out from

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
        pipe.hrandfield(keys.key("since"), SINCE_SAMPLE, withvalues=True)
        pipe.lrange(keys.key("held"), 0, -1)
        pipe.hmget(keys.key("bucket"), ["tokens", "ts"])
        pipe.scard(keys.key("booked"))
        pipe.lrange(keys.key("priority"), 0, LANE_READ - 1)
        (config_raw, head, seq, returning, order_left, stats_raw, admitted, sessions,
         outflow, since, held, bucket, booked, lane) = await pipe.execute()
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
    tokens = None if bucket[0] is None else float(_text(bucket[0]))
    reading = reading_of(
        config, stats, now_ms, sealed=sealed, occupied=len(admitted) + len(sessions),
        since_ms=tuple(_int(v) for v in (since or ())[1::2]),
        held=tuple(_held(entry) for entry in held), admitted_ms=times, tokens=tokens,
        bucket_ms=_int(bucket[1]),
        booked_live=_int(booked))
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
        lane=frozenset(_int(n) for n in lane),
        stats=stats,
        active=len(sessions),
        admitted=len(admitted),
        outflow=times,
        reading=reading,
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _held(entry: object) -> tuple[int, int, int, bool]:
    """A freed place as _lib.lua's free_place() records it: ``freed:held:session:own``."""
    freed, held, session, own = _text(entry).split(":")
    return int(freed), int(held), int(session), own == "1"


def reading_of(config: RoomConfig, stats: dict[str, int], now_ms: int, *, sealed: int,
               occupied: int, since_ms: tuple[int, ...],
               held: tuple[tuple[int, int, int, bool], ...], admitted_ms: tuple[int, ...],
               tokens: float | None, bucket_ms: int, booked_live: int) -> Reading:
    """What the wait estimate needs, from a room's settings, stats and places taken."""
    return Reading(
        now_ms=now_ms, max_active=config.max_active, admit_per_minute=config.admit_per_minute,
        session_minutes=config.expected_session_minutes,
        claim_window_s=config.claim_window_seconds, paused=config.paused,
        opens_at_s=config.opens_at, sealed=sealed, occupied=occupied, since_ms=since_ms,
        held=held, admitted_ms=admitted_ms, tokens=tokens, bucket_ms=bucket_ms,
        booked_live=booked_live,
        booked_expected=stats.get("booked_expected", 0), booked_share=config.booked_share,
        walk_seen=stats.get("walk_seen", 0), walk_taken=stats.get("walk_taken", 0))
