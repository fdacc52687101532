"""Wait estimates (pure) and poll intervals; the estimate's honesty over the phases of a day."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.eta import PHASES, run_phase
from waitroom.eta import (
    ADMITTED_NOW,
    Reading,
    claim_delay_s,
    estimate_wait,
    poll_after_ms,
    wait_model,
)
from waitroom.holding import kaplan_meier

NOW = 1_700_000_000_000


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    """A room as a snapshot may find it: any cap, rate, data and places taken."""
    cap = draw(st.integers(1, 500))
    occupied = draw(st.integers(0, cap + 5))
    since = tuple(draw(st.lists(
        st.integers(0, 600_000).map(lambda ago: NOW - ago) | st.integers(0, 600_000).map(
            lambda ago: -(NOW - ago)), min_size=min(occupied, 20), max_size=min(occupied, 20))))
    held = tuple(sorted(draw(st.lists(st.tuples(
        st.integers(0, 3_600_000).map(lambda ago: NOW - ago), st.integers(0, 900_000),
        st.integers(-1, 900_000), st.booleans()), max_size=40)), reverse=True))
    held = tuple((freed, ms, min(session, ms), own) for freed, ms, session, own in held)
    seen = draw(st.integers(0, 400))
    return Reading(
        now_ms=NOW, max_active=cap, admit_per_minute=draw(st.integers(1, 100_000)),
        session_minutes=draw(st.floats(0.01, 120)), claim_window_s=draw(st.integers(10, 600)),
        occupied=occupied, since_ms=since, held=held,
        admitted_ms=tuple(sorted((NOW - d for d in draw(st.lists(st.integers(0, 600_000),
                                                                   max_size=40))), reverse=True)),
        tokens=draw(st.none() | st.floats(0, 100)), bucket_ms=NOW - draw(st.integers(0, 60_000)),
        booked_live=draw(st.integers(0, 50)), booked_expected=draw(st.integers(0, 50)),
        booked_share=draw(st.floats(0, 1)), walk_seen=seen, walk_taken=draw(st.integers(0, seen)))


@given(reading=readings(), a=st.integers(1, 10**6), b=st.integers(1, 10**6))
def test_further_back_never_waits_less(reading: Reading, a: int, b: int) -> None:
    model = wait_model(reading)
    assert model is not None
    near, far = sorted((a, b))
    assert model.estimate(near).seconds <= model.estimate(far).seconds


@given(reading=readings(), position=st.integers(1, 10**7), elapsed=st.floats(0, 5))
def test_the_range_holds_its_middle(reading: Reading, position: int, elapsed: float) -> None:
    model = wait_model(reading)
    assert model is not None
    shown = model.estimate(position, elapsed)
    assert 0 <= shown.low_seconds <= shown.seconds <= shown.high_seconds
    assert shown.admits_per_minute > 0
    if elapsed == 0:
        assert shown == estimate_wait(position, reading)


@given(reading=readings(), position=st.integers(1, 10**6))
def test_no_figure_while_paused_or_not_open(reading: Reading, position: int) -> None:
    assert estimate_wait(position, reading._replace(paused=True)) is None
    later = reading.now_ms // 1000 + 60
    assert estimate_wait(position, reading._replace(opens_at_s=later)) is None
    # opened, but the pre-queue's order is not drawn yet: nobody is admitted
    assert estimate_wait(position, reading._replace(opens_at_s=1, sealed=-1)) is None
    assert estimate_wait(position, reading._replace(opens_at_s=1, sealed=0)) is not None


def test_an_admitted_visitor_waits_zero() -> None:
    reading = Reading(now_ms=NOW, max_active=10, admit_per_minute=10, session_minutes=10)
    assert estimate_wait(0, reading) == ADMITTED_NOW
    assert estimate_wait(0, reading._replace(paused=True)) == ADMITTED_NOW


def _full_room(sessions: list[float], cap: int = 10) -> Reading:
    """A full room, every place given a moment ago from the queue, with ``sessions``
    (seconds) ended lately."""
    held = tuple((NOW - 1000 * i, int(s * 1000) + 1000, int(s * 1000), False)
                 for i, s in enumerate(sessions))
    return Reading(now_ms=NOW, max_active=cap, admit_per_minute=100_000, session_minutes=20,
                   occupied=cap, since_ms=tuple(NOW - 100 for _ in range(cap)), held=held)


@given(count=st.integers(2, 60), seed=st.integers(0, 10**6), position=st.integers(50, 5000))
def test_less_data_shows_a_wider_range(count: int, seed: int, position: int) -> None:
    rng = random.Random(seed)
    sessions = [rng.uniform(20, 40) for _ in range(count)]
    few = estimate_wait(position, _full_room(sessions))
    many = estimate_wait(position, _full_room(sessions * 3))
    assert few is not None and many is not None
    width = (few.high_seconds - few.low_seconds) / max(few.seconds, 1)
    assert width >= (many.high_seconds - many.low_seconds) / max(many.seconds, 1) - 0.02
    assert few.measured and many.measured


def test_a_guessed_plan_shows_a_wider_range_than_measured_sessions() -> None:
    plan = estimate_wait(500, _full_room([])._replace(session_minutes=0.5))
    measured = estimate_wait(500, _full_room([30.0] * 100))
    assert plan is not None and measured is not None
    assert not plan.measured and measured.measured
    assert (plan.high_seconds - plan.low_seconds) / plan.seconds > \
        2 * (measured.high_seconds - measured.low_seconds) / measured.seconds


def test_the_wait_follows_the_cap_at_once() -> None:
    room = _full_room([30.0] * 100, cap=10)
    before = estimate_wait(2000, room)
    doubled = estimate_wait(2000, room._replace(max_active=20))
    assert before is not None and doubled is not None
    assert 0.4 < doubled.seconds / before.seconds < 0.6


def test_people_ahead_who_leave_shorten_the_wait() -> None:
    room = _full_room([30.0] * 100)
    everyone = estimate_wait(1000, room._replace(walk_seen=400, walk_taken=400))
    most_left = estimate_wait(1000, room._replace(walk_seen=400, walk_taken=100))
    assert everyone is not None and most_left is not None
    assert 0.2 < most_left.seconds / everyone.seconds < 0.3


def test_the_rate_limit_binds_when_it_is_below_what_the_places_allow() -> None:
    room = _full_room([30.0] * 100, cap=100)._replace(admit_per_minute=60, tokens=0.0,
                                                       bucket_ms=NOW)
    shown = estimate_wait(600, room)
    assert shown is not None
    assert shown.low_seconds <= 600 <= shown.high_seconds  # one a second, not 100 per 31 s
    assert shown.admits_per_minute == 60


def test_places_held_for_booked_visitors_are_not_the_walk_ins() -> None:
    room = _full_room([30.0] * 100)
    plain = estimate_wait(1000, room)
    booked = estimate_wait(1000, room._replace(booked_share=0.5, booked_expected=5))
    assert plain is not None and booked is not None
    assert 1.8 < booked.seconds / plain.seconds < 2.2


def test_sessions_still_running_count_against_a_short_early_mean() -> None:
    # The first sessions to end after opening are the short ones; those still running
    # say the others are longer.
    ended = [10.0, 11.0, 12.0]
    alone = kaplan_meier(ended, [])
    censored = kaplan_meier(ended, [(30.0, 1.0)] * 7)
    assert alone is not None and censored is not None
    assert alone.mean == pytest.approx(11.0)
    assert censored.mean > 30
    assert kaplan_meier([], [(5.0, 1.0)]) is None
    assert censored.residual(0.0) == pytest.approx(censored.mean)
    assert censored.residual(20.0) > 0 and censored.residual(500.0) > 0


@given(speed=st.floats(0.001, 1000))
def test_the_claim_delay_grows_with_the_queues_speed(speed: float) -> None:
    delay = claim_delay_s(speed)
    assert 0.8 <= delay <= 72
    assert claim_delay_s(speed * 4) >= delay - 0.25


@pytest.mark.parametrize("phase", PHASES, ids=[p.name for p in PHASES])
def test_each_phase_of_a_day_meets_the_targets(phase) -> None:
    # A deterministic simulation (bench.eta): the same figures on every run.
    result = run_phase(phase, seed=1, scale=0.4)
    score = result.scores["new"]
    assert score.visitors >= 25, score
    assert score.median <= 0.15, score
    assert score.p90 <= 0.35, score
    assert score.inside >= 0.80, score
    assert result.shown_while_paused == 0


@given(position=st.integers(1, 10**7), seed=st.integers())
def test_poll_interval_is_bounded_and_grows(position: int, seed: int) -> None:
    interval = poll_after_ms(position, rng=random.Random(seed))
    assert 1600 <= interval <= 56_000  # what a page shows is never a minute old
    far = [poll_after_ms(position + 10_000, rng=random.Random(s)) for s in range(20)]
    near = [poll_after_ms(position, rng=random.Random(s)) for s in range(20)]
    assert sum(far) >= sum(near)


def test_poll_interval_has_jitter() -> None:
    values = {poll_after_ms(500, rng=random.Random(s)) for s in range(50)}
    assert len(values) > 10
