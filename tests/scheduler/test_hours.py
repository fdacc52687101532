"""Assignment hours: which slots the scheduler may hand out, as a pure rule."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.calendar import (
    ASSIGN_FROM,
    ASSIGN_UNTIL,
    MIDNIGHT,
    CalendarSpec,
    DailyHours,
    WorkingPlan,
    generate_slots,
    parse_clock,
    within_hours,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
DAY = 24 * 60
ALL_DAY = DailyHours(MIDNIGHT, MIDNIGHT)


def clock(minute: int) -> dt.time:
    """A minute of the day as a time; 1440 (the end of the day) is midnight."""
    return MIDNIGHT if minute == DAY else dt.time(minute // 60, minute % 60)


@st.composite
def hours(draw: st.DrawFn) -> tuple[int, int]:
    """Start and end minutes, start before end, the end possibly midnight (1440)."""
    start = draw(st.integers(0, DAY - 1))
    return start, draw(st.integers(start + 1, DAY))


def test_the_default_is_an_office_and_evening_day() -> None:
    default = DailyHours()
    assert (default.start, default.end) == (ASSIGN_FROM, ASSIGN_UNTIL) == (dt.time(7),
                                                                          dt.time(21))
    night = dt.datetime(2025, 6, 2, 3, tzinfo=JAKARTA)
    assert not default.holds(night, night + dt.timedelta(minutes=30))
    seven = dt.datetime(2025, 6, 2, 7, tzinfo=JAKARTA)
    assert default.holds(seven, seven + dt.timedelta(minutes=30))
    # Partly outside is outside: 20:30-21:30 runs past the end.
    late = dt.datetime(2025, 6, 2, 20, 30, tzinfo=JAKARTA)
    assert default.holds(late, late + dt.timedelta(minutes=30))
    assert not default.holds(late, late + dt.timedelta(hours=1))


def test_hours_ending_at_midnight_hold_the_last_slot_of_the_day() -> None:
    evening = DailyHours.parse("18:00-24:00")
    assert evening.end == MIDNIGHT and evening.label() == "18:00-24:00"
    last = dt.datetime(2025, 6, 2, 23, 30, tzinfo=JAKARTA)
    assert evening.holds(last, last + dt.timedelta(minutes=30))
    # Across midnight and on into the next day: never inside daily hours.
    assert not evening.holds(last, last + dt.timedelta(hours=1))
    assert not ALL_DAY.holds(last, last + dt.timedelta(hours=1))
    # Given in UTC, a slot is still read on the local clock when converted first.
    utc = dt.datetime(2025, 6, 2, 0, tzinfo=dt.UTC)  # 07:00 in Jakarta
    assert not DailyHours().holds(utc, utc + dt.timedelta(minutes=30))
    assert DailyHours().holds(utc.astimezone(JAKARTA),
                              (utc + dt.timedelta(minutes=30)).astimezone(JAKARTA))


@pytest.mark.parametrize("text", ["21:00-07:00", "07:00-07:00", "7-21", "07:00", "07:00-25:00",
                                  "24:00-24:00", "07:60-21:00", "jam 7-21", ""])
def test_bad_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        DailyHours.parse(text)


def test_hours_take_whole_minutes_only() -> None:
    with pytest.raises(ValueError):
        DailyHours(dt.time(7, 0, 30), dt.time(21))
    with pytest.raises(ValueError):
        DailyHours(dt.time(7, tzinfo=dt.UTC), dt.time(21))
    assert parse_clock("7:05") == dt.time(7, 5)
    assert parse_clock("24:00", end=True) == MIDNIGHT
    with pytest.raises(ValueError):
        parse_clock("24:00")


@given(span=hours(), day=st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)),
       start=st.integers(0, DAY - 1), length=st.integers(1, 2 * DAY))
def test_a_slot_is_inside_exactly_when_all_its_minutes_are(
    span: tuple[int, int], day: dt.date, start: int, length: int
) -> None:
    daily = DailyHours(clock(span[0]), clock(span[1]))
    begin = dt.datetime.combine(day, dt.time(), tzinfo=JAKARTA) + dt.timedelta(minutes=start)
    end = begin + dt.timedelta(minutes=length)
    # The reference: every minute the slot covers is a minute of the hours on its own day.
    covered = set(range(start, start + length))
    assert daily.holds(begin, end) == covered.issubset(range(span[0], span[1]))


@given(span=hours())
def test_hours_read_back_as_written(span: tuple[int, int]) -> None:
    daily = DailyHours(clock(span[0]), clock(span[1]))
    assert DailyHours.parse(daily.label()) == daily


@given(first=st.integers(0, DAY), last=st.integers(0, DAY))
def test_empty_or_reversed_hours_are_refused(first: int, last: int) -> None:
    start, end = clock(first % DAY), clock(last)
    if first % DAY < (DAY if end == MIDNIGHT else last):
        assert DailyHours(start, end).end == end
    else:
        with pytest.raises(ValueError):
            DailyHours(start, end)


@given(
    opening=hours(),
    inner=hours(),
    outer_margin=st.tuples(st.integers(0, DAY), st.integers(0, DAY)),
    slot_minutes=st.sampled_from([15, 30, 60]),
    days=st.integers(1, 4),
)
def test_filtering_generated_slots_to_hours(
    opening: tuple[int, int], inner: tuple[int, int], outer_margin: tuple[int, int],
    slot_minutes: int, days: int,
) -> None:
    plan = WorkingPlan(tuple(((clock(opening[0]), clock(opening[1])),) for _ in range(7)))
    start = dt.datetime(2025, 6, 2, tzinfo=JAKARTA)
    spec = CalendarSpec(start, start + dt.timedelta(days=days), plan=plan,
                        slot_minutes=slot_minutes)
    slots = generate_slots(spec, 100, 0.3, 20)
    narrow = DailyHours(clock(inner[0]), clock(inner[1]))
    wide = DailyHours(clock(max(0, inner[0] - outer_margin[0])),
                      clock(min(DAY, inner[1] + outer_margin[1])))
    kept = within_hours(slots, narrow)
    # In order, a part of the slots, each inside, and every slot left out has a minute outside.
    assert kept == [slot for slot in slots if slot in kept]
    for slot in slots:
        first = slot.start.hour * 60 + slot.start.minute
        inside = narrow.holds(slot.start, slot.end)
        assert (slot in kept) == inside
        assert inside == (inner[0] <= first and first + slot_minutes <= inner[1])
    # Wider hours never lose a slot; the whole day keeps every one (none crosses midnight).
    assert set(kept) <= set(within_hours(slots, wide))
    assert within_hours(slots, ALL_DAY) == slots
