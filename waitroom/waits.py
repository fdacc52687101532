"""How long admitted visitors waited: the room's histogram, as the Lua scripts keep it (pure).

Every admission records its wait, from joining to being admitted, in the room's
``waits`` hash in the same script that admits: a count per bucket (the field is
the bucket's upper bound in seconds, ``inf`` past the last) and ``sum_ms``. The
counts are a bucket's own, cumulated here when read, so a script adds one count
per bucket it fills rather than one per bound. A visitor's join time is kept to
the nearest second (``joined``, one u32 per queue number), so a wait is exact to
half a second either side, and exactly 0 for a visitor admitted by their own join.
An admission whose join time is unknown (the visitor joined before join times were
kept) is counted in ``admitted_total`` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# Upper bounds of the buckets, in seconds (a last one, +Inf, holds every wait). The
# prelude of the Lua scripts lists the same (_lib.lua WAIT_BOUNDS_S).
WAIT_BOUNDS_S: tuple[int, ...] = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
BEYOND_FIELD = "inf"
SUM_FIELD = "sum_ms"


@dataclass(frozen=True)
class WaitHistogram:
    """Cumulative counts of admission waits: ``buckets`` pairs each bound (seconds, the
    last one infinite) with the admissions that waited at most that long."""

    buckets: tuple[tuple[float, int], ...]
    sum_seconds: float
    count: int


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def histogram_of(raw: Mapping[bytes | str, bytes | str]) -> WaitHistogram:
    """The histogram from the ``waits`` hash as read (HGETALL); empty before any admission."""
    fields = {_text(k): int(_text(v)) for k, v in raw.items()}
    buckets: list[tuple[float, int]] = []
    below = 0
    for bound in WAIT_BOUNDS_S:
        below += fields.get(str(bound), 0)
        buckets.append((float(bound), below))
    below += fields.get(BEYOND_FIELD, 0)
    buckets.append((math.inf, below))
    return WaitHistogram(tuple(buckets), fields.get(SUM_FIELD, 0) / 1000, below)
