"""The room over time: samples kept in Redis, and the waits they imply.

The console's wait tiles are derived from queue numbers (the room's own count of
every admission's wait, ``waitroom.waits``, is cumulative, for /metrics; a window's
quantiles need two readings of it): every sample notes the last number handed
out (``seq``) and where the admission walk stands (``head``). The visitor with
number ``head`` at time ``t`` joined when ``seq`` first reached that number, so
their wait is ``t`` minus that moment, interpolated between samples. Visitors
drawn in the pre-queue or coming back after a skip are approximated the same way.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from portal.admin.latency import percentile
from portal.keys import PortalKeys
from waitroom.room import WaitingRoom

SAMPLE_EVERY = 5.0
KEEP = 17_280  # one day at one sample per five seconds (about 1.5 MB)


@dataclass(frozen=True)
class Sample:
    """The room at one moment."""

    t: float
    waiting: int
    active: int
    cap: int
    admitted_total: int
    seq: int
    head: int


def _key(room: WaitingRoom, name: str) -> str:
    return PortalKeys.of(room.keys).of_room(name)


async def sample_if_due(room: WaitingRoom, tz: ZoneInfo, *, every: float = SAMPLE_EVERY,
                        now: float | None = None) -> Sample | None:
    """Take a sample unless one was taken (by any process) in the last ``every`` seconds."""
    got = await room.client.set(_key(room, "sample-lock"), secrets.token_hex(4), nx=True,
                                px=int(every * 1000))
    if not got:
        return None
    now = time.time() if now is None else now
    snapshot = await room.refresh()
    sample = Sample(
        t=round(now, 3), waiting=max(0, snapshot.stat("waiting")),
        active=snapshot.active + snapshot.admitted, cap=snapshot.config.max_active,
        admitted_total=snapshot.stat("admitted_total"), seq=snapshot.seq,
        head=snapshot.head,
    )
    today = dt.datetime.fromtimestamp(now, tz).date().isoformat()
    async with room.client.pipeline(transaction=False) as pipe:
        pipe.rpush(_key(room, "samples"), json.dumps(asdict(sample), separators=(",", ":")))
        pipe.ltrim(_key(room, "samples"), -KEEP, -1)
        # The first count seen each day: "admitted today" is the total minus this.
        pipe.hsetnx(_key(room, "day-start"), today, sample.admitted_total)
        await pipe.execute()
    return sample


async def read_samples(room: WaitingRoom, last: int = KEEP) -> list[Sample]:
    """The newest ``last`` samples, oldest first."""
    raw = await room.client.lrange(_key(room, "samples"), -last, -1)
    return [Sample(**json.loads(item)) for item in raw]


async def admitted_today(room: WaitingRoom, tz: ZoneInfo, admitted_total: int,
                         now: float | None = None) -> int | None:
    """People admitted since local midnight (None before the day's first sample)."""
    now = time.time() if now is None else now
    today = dt.datetime.fromtimestamp(now, tz).date().isoformat()
    start = await room.client.hget(_key(room, "day-start"), today)
    if start is None:
        return None
    return max(0, admitted_total - int(start))


def join_time(samples: Sequence[Sample], number: int) -> float | None:
    """When ``seq`` reached ``number`` (interpolated); None when older than the samples."""
    seqs = [s.seq for s in samples]
    index = bisect.bisect_left(seqs, number)
    if index == 0 or index >= len(samples):
        return None
    before, after = samples[index - 1], samples[index]
    span = after.seq - before.seq
    if span <= 0:
        return after.t
    return before.t + (after.t - before.t) * (number - before.seq) / span


def waits(samples: Sequence[Sample], since: float) -> list[float]:
    """Waits in seconds of the visitors admitted (the walk passed them) after ``since``."""
    found: list[float] = []
    previous_head = None
    for sample in samples:
        if sample.t >= since and previous_head is not None and sample.head > previous_head:
            joined = join_time(samples, sample.head - 1)
            if joined is not None:
                found.append(max(0.0, sample.t - joined))
        previous_head = sample.head
    return found


def wait_quantiles(samples: Sequence[Sample], since: float) -> tuple[float | None,
                                                                     float | None]:
    """Median and 90th percentile wait (seconds) of those admitted after ``since``."""
    found = waits(samples, since)
    return percentile(found, 0.5), percentile(found, 0.9)


def admissions_per_minute(outflow: Sequence[int], now_ms: int) -> int:
    """Admissions in the last minute, from the room's outflow times (newest first)."""
    return sum(1 for at in outflow if at >= now_ms - 60_000)
