"""Position, wait estimates and poll intervals (pure)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import NamedTuple

# Below this many admissions in the window the measured rate is too noisy
# to trust, and the estimate falls back to what the settings promise.
MIN_SAMPLES = 5
WINDOW_MS = 5 * 60 * 1000


class WaitEstimate(NamedTuple):
    """An honest wait: a range in seconds and the rate it was computed from.

    (A named tuple: one is made for every status poll, and it is the cheapest
    immutable record to make.)
    """

    low_seconds: int
    high_seconds: int
    admits_per_minute: float
    measured: bool

    @property
    def seconds(self) -> int:
        """The middle of the range, for a single figure."""
        return (self.low_seconds + self.high_seconds) // 2


def planned_rate(max_active: int, admit_per_minute: int, session_minutes: float) -> float:
    """Admissions per minute the settings allow once the room is full."""
    if max_active <= 0 or admit_per_minute <= 0:
        return 0.0
    return min(float(admit_per_minute), max_active / max(session_minutes, 0.1))


def measured_rate(admission_times_ms: Sequence[int], now_ms: int) -> float | None:
    """Admissions per minute over the last window, or None with too few samples."""
    recent = [t for t in admission_times_ms if now_ms - WINDOW_MS <= t <= now_ms]
    if len(recent) < MIN_SAMPLES:
        return None
    # n events observed over a span are n - 1 intervals of outflow.
    span_ms = max(now_ms - min(recent), 60_000)
    return (len(recent) - 1) * 60_000 / span_ms


def estimate_wait(
    position: int,
    *,
    max_active: int,
    admit_per_minute: int,
    session_minutes: float,
    admission_times_ms: Sequence[int],
    now_ms: int,
    paused: bool = False,
) -> WaitEstimate | None:
    """Estimate the wait of the visitor at ``position`` (1 = next); None if unknowable."""
    return estimate_at_rate(
        position,
        measured_rate(admission_times_ms, now_ms),
        planned_rate(max_active, admit_per_minute, session_minutes),
        paused=paused,
    )


def estimate_at_rate(
    position: int, measured: float | None, planned: float, *, paused: bool = False
) -> WaitEstimate | None:
    """Estimate from an outflow already measured (None: too little data) or planned."""
    if position <= 0:
        return WaitEstimate(0, 0, 0.0, False)
    rate = measured if measured is not None else planned
    if rate <= 0 or paused:
        return None
    middle = position * 60.0 / rate
    measured_ = measured is not None
    # A measured rate is trusted more than a planned one; both get a range,
    # since departures from the queue ahead only make the wait shorter.
    spread = 0.25 if measured_ else 0.5
    low = max(0, math.floor(middle * (1 - spread)))
    high = math.ceil(middle * (1 + spread))
    return WaitEstimate(low, max(high, low), round(rate, 2), measured_)


def poll_after_ms(
    position: int,
    *,
    rng: random.Random | None = None,
    floor_ms: int = 2000,
    ceiling_ms: int = 60000,
) -> int:
    """Return how long a visitor should wait before asking again, with ±20 % jitter.

    Near the front visitors ask every couple of seconds; far back, at most once
    a minute, so a queue of a million costs little.
    """
    base = floor_ms + 1000 * math.sqrt(max(position - 1, 0)) * 2
    base = min(float(ceiling_ms), base)
    jitter = (rng or random).uniform(-0.2, 0.2)
    return int(max(floor_ms * 0.8, base * (1 + jitter)))
