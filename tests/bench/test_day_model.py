"""``bench.day_model``: the drawn people keep to the calendar, the slots and the sample."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.day_model import (
    MINUTE_MS,
    Behaviour,
    draw_day,
    draw_population,
    draw_time_ms,
    even_sample,
    open_days,
    window_spec,
)
from scheduler.calendar import DailyHours

BEHAVIOUR = Behaviour()
# Holds Nyepi, Idul Fitri and their cuti bersama.
SPEC = window_spec(dt.date(2026, 3, 2), dt.date(2026, 3, 31), DailyHours(), "Asia/Jakarta")
DAYS = open_days(SPEC, BEHAVIOUR)


@st.composite
def daily_hours(draw: st.DrawFn) -> DailyHours:
    start = draw(st.integers(0, 23 * 4))
    end = draw(st.integers(start + 1, 24 * 4))
    return DailyHours(dt.time(start // 4, 15 * (start % 4)),
                      dt.time(0) if end == 96 else dt.time(end // 4, 15 * (end % 4)))


def test_the_window_is_shaped_by_the_rushes_and_the_holidays() -> None:
    assert [d.day for d in DAYS] == [dt.date(2026, 3, 2) + dt.timedelta(days=i)
                                      for i in range(30)]
    holidays = [d for d in DAYS if d.holiday]
    assert {d.day.day for d in holidays} == {18, 19, 20, 21, 22, 23, 24}
    assert all(d.weight == SPEC.holiday_weight for d in holidays)
    working = [d for d in DAYS if not d.holiday]
    middle = min(working, key=lambda d: d.arrivals)
    assert DAYS[-1].arrivals > DAYS[0].arrivals > middle.arrivals
    # a holiday draws fewer than the working days either side of it
    assert max(d.arrivals for d in holidays) < min(DAYS[15].arrivals, DAYS[23].arrivals)


@settings(max_examples=200)
@given(hours=daily_hours(), seed=st.integers(0, 2**32), draws=st.integers(1, 30))
def test_arrivals_fall_inside_the_opening_hours(hours: DailyHours, seed: int,
                                                draws: int) -> None:
    spec = window_spec(dt.date(2026, 3, 9), dt.date(2026, 3, 12), hours, "Asia/Jakarta")
    days = open_days(spec, BEHAVIOUR)
    rng = random.Random(seed)
    for _ in range(draws):
        day = draw_day(days, rng)
        assert day is not None
        at = draw_time_ms(day, BEHAVIOUR, rng)
        assert any(start <= at < end for start, end in day.intervals)


@given(after=st.integers(-1, 40), seed=st.integers(0, 2**32))
def test_a_return_is_on_a_later_day(after: int, seed: int) -> None:
    day = draw_day(DAYS, random.Random(seed), after=after)
    if after >= len(DAYS) - 1:
        assert day is None
    else:
        assert day is not None and day.index > after


@given(counts=st.lists(st.integers(0, 10_000), max_size=50), k=st.integers(1, 40))
def test_the_even_sample_keeps_one_in_k_of_every_run(counts: list[int], k: int) -> None:
    before = 0
    kept = 0
    for count in counts:
        taken = even_sample(before, count, 1 / k)
        assert 0 <= taken <= count and abs(taken - count / k) <= 1
        kept += taken
        before += count
    assert kept == before // k


@given(seed=st.integers(0, 2**32), mean=st.floats(1, 120))
def test_drawn_durations_keep_their_bounds(seed: int, mean: float) -> None:
    rng = random.Random(seed)
    longest = 7200 * 950
    for _ in range(20):
        session = BEHAVIOUR.session_ms(rng, mean, longest)
        assert BEHAVIOUR.shortest_session_minutes * MINUTE_MS <= session <= longest
        patience = BEHAVIOUR.patience_ms(rng)
        assert (BEHAVIOUR.patience_min_minutes * MINUTE_MS <= patience
                <= BEHAVIOUR.patience_max_minutes * MINUTE_MS)
        assert BEHAVIOUR.claim_ms(rng, at_join=True) == 2000
        assert BEHAVIOUR.claim_ms(rng, at_join=False) > 0


@pytest.mark.parametrize("k", [1, 10])
def test_a_population_books_its_slots_and_samples_evenly(k: int) -> None:
    roster = 17_000
    people = draw_population(roster, SPEC, DAYS, planned_cap=100, booked_share=0.3,
                             session_minutes=20, behaviour=BEHAVIOUR, rng=random.Random(1),
                             sample=1 / k)
    assert people.persons == roster // k
    assert people.booked == round(roster * BEHAVIOUR.booking_share) // k
    assert people.unbooked_wanting == 0  # a cap of 100 has slots for everyone who asks
    assert len(people.arrivals) == people.persons - people.no_shows
    assert 0.05 < people.no_shows / people.booked < 0.15
    assert [a.at_ms for a in people.arrivals] == sorted(a.at_ms for a in people.arrivals)
    assert sorted(a.person for a in people.arrivals) == list(range(len(people.arrivals)))
    window = [(start, end) for d in DAYS for start, end in d.intervals]
    for arrival in people.arrivals:
        assert any(start <= arrival.at_ms < end for start, end in window)
    booked = [a for a in people.arrivals if a.booked]
    assert len(booked) == people.booked - people.no_shows
    # booked visitors come in the first half of a 30-minute slot (07:00, 07:30, ...)
    assert all(a.at_ms % (30 * MINUTE_MS) < 15 * MINUTE_MS for a in booked)
