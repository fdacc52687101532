"""Wait estimates and poll intervals."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from waitroom.eta import estimate_wait, measured_rate, planned_rate, poll_after_ms


@given(position=st.integers(1, 10**7), max_active=st.integers(1, 10**5),
       rate=st.integers(1, 10**5), minutes=st.floats(0.5, 120))
def test_estimate_is_a_sound_range(position: int, max_active: int, rate: int,
                                   minutes: float) -> None:
    estimate = estimate_wait(position, max_active=max_active, admit_per_minute=rate,
                             session_minutes=minutes, admission_times_ms=[], now_ms=10**12)
    assert estimate is not None
    assert 0 <= estimate.low_seconds <= estimate.seconds <= estimate.high_seconds
    expected = position * 60 / planned_rate(max_active, rate, minutes)
    assert estimate.low_seconds <= expected <= estimate.high_seconds + 1
    assert not estimate.measured


@given(a=st.integers(1, 10**6), b=st.integers(1, 10**6))
def test_further_back_never_waits_less(a: int, b: int) -> None:
    def middle(position: int) -> int:
        result = estimate_wait(position, max_active=50, admit_per_minute=100,
                               session_minutes=20, admission_times_ms=[], now_ms=0)
        assert result is not None
        return result.seconds

    lo, hi = sorted((a, b))
    assert middle(lo) <= middle(hi)


def test_measured_outflow_wins_over_the_plan() -> None:
    now = 10**12
    # 60 admissions spread over the last 2 minutes: 30 per minute
    times = [now - i * 2000 for i in range(60)]
    assert measured_rate(times, now) == 30.0
    estimate = estimate_wait(30, max_active=1000, admit_per_minute=1000, session_minutes=1,
                             admission_times_ms=times, now_ms=now)
    assert estimate is not None and estimate.measured
    assert estimate.low_seconds <= 60 <= estimate.high_seconds


def test_too_few_samples_fall_back_to_the_plan() -> None:
    assert measured_rate([10**12], 10**12) is None


def test_paused_or_unknown_has_no_estimate_and_admitted_waits_zero() -> None:
    assert estimate_wait(5, max_active=10, admit_per_minute=10, session_minutes=10,
                         admission_times_ms=[], now_ms=0, paused=True) is None
    zero = estimate_wait(0, max_active=10, admit_per_minute=10, session_minutes=10,
                         admission_times_ms=[], now_ms=0)
    assert zero is not None and zero.high_seconds == 0


@given(position=st.integers(1, 10**7), seed=st.integers())
def test_poll_interval_is_bounded_and_grows(position: int, seed: int) -> None:
    interval = poll_after_ms(position, rng=random.Random(seed))
    assert 1600 <= interval <= 72000
    far = [poll_after_ms(position + 10_000, rng=random.Random(s)) for s in range(20)]
    near = [poll_after_ms(position, rng=random.Random(s)) for s in range(20)]
    assert sum(far) >= sum(near)


def test_poll_interval_has_jitter() -> None:
    values = {poll_after_ms(500, rng=random.Random(s)) for s in range(50)}
    assert len(values) > 10
