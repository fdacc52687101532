import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar import (
    MIDNIGHT,
    CalendarSpec,
    WorkingPlan,
    generate_slots,
    holiday_calendar,
    slot_capacity,
)
from tests.support import examples

JAKARTA = ZoneInfo("Asia/Jakarta")
HOLIDAYS_2025 = holiday_calendar([2025])
HOLIDAYS_2024_2026 = holiday_calendar([2024, 2025, 2026])


def jakarta(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=JAKARTA)


def test_holidays_include_idul_fitri_and_cuti_bersama() -> None:
    assert "Idul Fitri" in HOLIDAYS_2025[dt.date(2025, 3, 31)]
    # Cuti bersama come from the package's "government" category.
    assert HOLIDAYS_2025[dt.date(2025, 4, 7)].startswith("Cuti Bersama")
    assert dt.date(2025, 4, 8) not in HOLIDAYS_2025


def test_operators_add_and_remove_holidays() -> None:
    edited = holiday_calendar(
        [2025],
        extra_dates={dt.date(2025, 8, 30): "Libur daerah"},
        removed_dates=[dt.date(2025, 4, 7)],
    )
    assert edited[dt.date(2025, 8, 30)] == "Libur daerah"
    assert dt.date(2025, 4, 7) not in edited
    assert list(edited) == sorted(edited)


def test_slot_capacity_formula_and_decimal_exactness() -> None:
    assert slot_capacity(1000, 0.3, 30, 15) == 600
    assert slot_capacity(1000, 0.3, 30, 20, 1.5) == 675
    assert slot_capacity(7, 0.1, 30, 7) == 3
    assert slot_capacity(100, 0.5, 30, 20, 0) == 0
    assert slot_capacity(100, 0.5, 30, 20, -1) == 0
    with pytest.raises(ValueError):
        slot_capacity(100, 0.5, 30, 0)


def test_office_hours_plan_with_holiday_weight() -> None:
    office = ((dt.time(8), dt.time(12)), (dt.time(13), dt.time(16)))
    plan = WorkingPlan.from_mapping({weekday: office for weekday in range(5)})
    spec = CalendarSpec(
        jakarta(2025, 3, 28), jakarta(2025, 4, 2), plan=plan, holidays=HOLIDAYS_2025
    )
    slots = generate_slots(spec, max_active=100, booked_share=0.5, expected_session_minutes=20)
    days = sorted({slot.day for slot in slots})
    # Fri 28, Mon 31, Tue 1: the weekend is closed in this plan.
    assert days == [dt.date(2025, 3, 28), dt.date(2025, 3, 31), dt.date(2025, 4, 1)]
    assert len(slots) == 3 * 14
    idul_fitri = [slot for slot in slots if slot.day == dt.date(2025, 3, 31)]
    assert all(slot.holiday and "Idul Fitri" in slot.holiday for slot in idul_fitri)
    assert {slot.capacity for slot in idul_fitri} == {112}  # 75 * 1.5
    assert idul_fitri[0].start == jakarta(2025, 3, 31, 8)
    assert idul_fitri[-1].end == jakarta(2025, 3, 31, 16)


def test_weight_override_beats_holiday_weight() -> None:
    spec = CalendarSpec(
        jakarta(2025, 3, 31),
        jakarta(2025, 4, 1),
        holidays=HOLIDAYS_2025,
        weight_overrides={dt.date(2025, 3, 31): 0.0},
    )
    slots = generate_slots(spec, 100, 0.5, 20)
    assert len(slots) == 48
    assert {slot.capacity for slot in slots} == {0}


def test_window_keeps_grid_and_drops_partial_slots() -> None:
    spec = CalendarSpec(jakarta(2025, 5, 5, 10, 7), jakarta(2025, 5, 5, 11, 50))
    slots = generate_slots(spec, 10, 1, 30)
    assert [slot.start.time() for slot in slots] == [dt.time(10, 30), dt.time(11, 0)]
    assert slots[-1].end == jakarta(2025, 5, 5, 11, 30)


def test_window_given_in_utc_is_read_in_local_time() -> None:
    spec = CalendarSpec(
        dt.datetime(2025, 5, 4, 17, 0, tzinfo=dt.UTC),  # 00:00 WIB on the 5th
        dt.datetime(2025, 5, 5, 17, 0, tzinfo=dt.UTC),
    )
    slots = generate_slots(spec, 10, 1, 30)
    assert len(slots) == 48
    assert {slot.day for slot in slots} == {dt.date(2025, 5, 5)}
    assert slots[0].start.tzinfo == JAKARTA


def test_dst_day_slots_are_real_length() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spec = CalendarSpec(
        dt.datetime(2025, 3, 30, tzinfo=berlin),
        dt.datetime(2025, 3, 31, tzinfo=berlin),
        tz="Europe/Berlin",
    )
    slots = generate_slots(spec, 10, 1, 30)
    # 02:00-03:00 does not exist that night: the day has 23 hours.
    assert len(slots) == 46
    autumn = CalendarSpec(
        dt.datetime(2025, 10, 26, tzinfo=berlin),
        dt.datetime(2025, 10, 27, tzinfo=berlin),
        tz="Europe/Berlin",
    )
    assert len(generate_slots(autumn, 10, 1, 30)) == 50
    # Same-zone subtraction is wall-clock arithmetic in Python; compare in UTC.
    utc = [(slot.start.astimezone(dt.UTC), slot.end.astimezone(dt.UTC)) for slot in slots]
    assert all(end - start == dt.timedelta(minutes=30) for start, end in utc)
    assert all(later[0] == earlier[1] for earlier, later in zip(utc, utc[1:], strict=False))
    assert [slot.start.hour for slot in slots[3:6]] == [1, 3, 3]


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError):
        CalendarSpec(dt.datetime(2025, 1, 1), jakarta(2025, 1, 2))
    with pytest.raises(ValueError):
        CalendarSpec(jakarta(2025, 1, 2), jakarta(2025, 1, 1))
    with pytest.raises(ValueError):
        WorkingPlan.from_mapping({0: [(dt.time(10), dt.time(9))]})
    with pytest.raises(ValueError):
        WorkingPlan.from_mapping({0: [(dt.time(8), dt.time(12)), (dt.time(11), dt.time(13))]})
    for weight in (-0.5, math.nan, math.inf):
        with pytest.raises(ValueError):
            CalendarSpec(jakarta(2025, 1, 1), jakarta(2025, 1, 3),
                         weight_overrides={dt.date(2025, 1, 2): weight})
        with pytest.raises(ValueError):
            CalendarSpec(jakarta(2025, 1, 1), jakarta(2025, 1, 3), holiday_weight=weight)


def test_weights_by_date_shape_single_days_only() -> None:
    spec = CalendarSpec(
        jakarta(2025, 3, 30), jakarta(2025, 4, 2), holidays=HOLIDAYS_2025, holiday_weight=1.5,
        weight_overrides={dt.date(2025, 3, 30): 2.0, dt.date(2025, 4, 1): 0.0},
    )
    places: dict[dt.date, set[int]] = {}
    for slot in generate_slots(spec, 100, 0.5, 20):
        places.setdefault(slot.day, set()).add(slot.capacity)
    # 0.5 * 100 * 30 / 20 = 75 places; Idul Fitri (31 March) keeps the holiday weight.
    assert places == {dt.date(2025, 3, 30): {150}, dt.date(2025, 3, 31): {112},
                      dt.date(2025, 4, 1): {0}}


def test_two_years_of_slots_are_made_whole() -> None:
    # (how long it takes is a figure for a bench, never an assertion here)
    spec = CalendarSpec(
        jakarta(2025, 1, 1), jakarta(2027, 1, 1), holidays=holiday_calendar([2025, 2026])
    )
    slots = generate_slots(spec, 1000, 0.3, 20)
    assert len(slots) == 730 * 48


@st.composite
def intervals(draw: st.DrawFn) -> tuple[tuple[dt.time, dt.time], ...]:
    cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    pairs = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        pairs.append((_quarter(start), MIDNIGHT if end == 96 else _quarter(end)))
    return tuple(pairs)


def _quarter(quarters: int) -> dt.time:
    return dt.time(quarters // 4, 15 * (quarters % 4))


def _minutes(moment: dt.time, is_end: bool = False) -> int:
    if is_end and moment == MIDNIGHT:
        return 24 * 60
    return moment.hour * 60 + moment.minute


@settings(max_examples=examples(1000), deadline=None)
@given(
    plan_days=st.lists(intervals(), min_size=7, max_size=7),
    start_day=st.dates(dt.date(2024, 12, 1), dt.date(2025, 12, 31)),
    start_minute=st.integers(0, 24 * 60 - 1),
    length_minutes=st.integers(0, 10 * 24 * 60),
    slot_minutes=st.sampled_from([10, 15, 20, 30, 45, 60, 90]),
    max_active=st.integers(0, 5000),
    booked_share=st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 1.0]),
    session_minutes=st.integers(1, 60),
    holiday_weight=st.sampled_from([0.5, 1.0, 1.5, 2.0]),
)
def test_slot_properties(
    plan_days: list[tuple[tuple[dt.time, dt.time], ...]],
    start_day: dt.date,
    start_minute: int,
    length_minutes: int,
    slot_minutes: int,
    max_active: int,
    booked_share: float,
    session_minutes: int,
    holiday_weight: float,
) -> None:
    window_start = dt.datetime.combine(start_day, dt.time(), tzinfo=JAKARTA) + dt.timedelta(
        minutes=start_minute
    )
    window_end = window_start + dt.timedelta(minutes=length_minutes)
    plan = WorkingPlan(tuple(plan_days))
    spec = CalendarSpec(
        window_start,
        window_end,
        plan=plan,
        slot_minutes=slot_minutes,
        holidays=HOLIDAYS_2024_2026,
        holiday_weight=holiday_weight,
    )
    slots = generate_slots(spec, max_active, booked_share, session_minutes)

    for slot in slots:
        assert window_start <= slot.start and slot.end <= window_end
        assert slot.end - slot.start == dt.timedelta(minutes=slot_minutes)
        assert slot.start.date() == slot.day
        assert slot.holiday == spec.holidays.get(slot.day)
        # Inside one interval of the day's plan.
        start_min = _minutes(slot.start.time())
        end_min = start_min + slot_minutes
        assert any(
            _minutes(begin) <= start_min
            and end_min <= _minutes(end, is_end=True)
            and (start_min - _minutes(begin)) % slot_minutes == 0
            for begin, end in plan.intervals_on(slot.day.weekday())
        )
        weight = holiday_weight if slot.holiday else 1.0
        exact = booked_share * max_active * slot_minutes / session_minutes * weight
        assert slot.capacity >= 0
        assert abs(slot.capacity - math.floor(exact)) <= 1
        assert slot.capacity == slot_capacity(
            max_active, booked_share, slot_minutes, session_minutes, weight
        )
    for earlier, later in zip(slots, slots[1:], strict=False):
        assert earlier.end <= later.start  # sorted and never overlapping

    # Nothing missing: every full grid slot inside the window is there.
    expected = 0
    day = window_start.date() - dt.timedelta(days=1)
    while day <= window_end.date():
        for begin, end in plan.intervals_on(day.weekday()):
            cursor = dt.datetime.combine(day, begin, tzinfo=JAKARTA)
            stop = dt.datetime.combine(day, dt.time(), tzinfo=JAKARTA) + dt.timedelta(
                minutes=_minutes(end, is_end=True)
            )
            while cursor + dt.timedelta(minutes=slot_minutes) <= stop:
                if window_start <= cursor and cursor + dt.timedelta(minutes=slot_minutes) <= (
                    window_end
                ):
                    expected += 1
                cursor += dt.timedelta(minutes=slot_minutes)
        day += dt.timedelta(days=1)
    assert len(slots) == expected


@given(plan_days=st.lists(intervals(), min_size=7, max_size=7))
def test_open_hours_sum_each_weekdays_intervals(
    plan_days: list[tuple[tuple[dt.time, dt.time], ...]],
) -> None:
    hours = WorkingPlan(tuple(plan_days)).open_hours()
    assert sorted(hours) == list(range(7))
    for weekday, spans in enumerate(plan_days):
        minutes = sum(_minutes(end, True) - _minutes(start) for start, end in spans)
        assert hours[weekday] * 60 == pytest.approx(minutes)
    assert WorkingPlan().open_hours() == dict.fromkeys(range(7), 24.0)
