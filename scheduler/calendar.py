"""The registration calendar: opening hours, public holidays and the slots they produce."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from zoneinfo import ZoneInfo

import holidays

DEFAULT_TZ = "Asia/Jakarta"
# A day's weight multiplies its slots' places; editors refuse more as a typing slip.
MAX_WEIGHT = 10.0
MIDNIGHT = dt.time(0, 0)
# The day the scheduler hands out when it picks a slot for someone: office and evening.
ASSIGN_FROM = dt.time(7, 0)
ASSIGN_UNTIL = dt.time(21, 0)
_UTC = dt.UTC
_DAY_MICROS = 24 * 3600 * 1_000_000

Interval = tuple[dt.time, dt.time]


def _all_day() -> tuple[tuple[Interval, ...], ...]:
    return tuple(((MIDNIGHT, MIDNIGHT),) for _ in range(7))


@dataclass(frozen=True, slots=True)
class WorkingPlan:
    """Opening intervals for each weekday (0 = Monday); an end of 00:00 means midnight."""

    days: tuple[tuple[Interval, ...], ...] = field(default_factory=_all_day)

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("a working plan needs exactly 7 weekdays")
        for intervals in self.days:
            previous_end = -1
            for start, end in intervals:
                start_min, end_min = _minute_of_day(start), _end_minute(end)
                if start_min >= end_min:
                    raise ValueError(f"interval {start}-{end} is empty or reversed")
                if start_min < previous_end:
                    raise ValueError(f"interval {start}-{end} overlaps or is out of order")
                previous_end = end_min

    @classmethod
    def from_mapping(cls, plan: Mapping[int, Sequence[Interval]]) -> WorkingPlan:
        """Build a plan from weekday -> intervals; weekdays not mentioned are closed."""
        return cls(tuple(tuple(sorted(plan.get(weekday, ()))) for weekday in range(7)))

    def intervals_on(self, weekday: int) -> tuple[Interval, ...]:
        """Return the opening intervals of a weekday, in order."""
        return self.days[weekday]

    def open_hours(self) -> dict[int, float]:
        """Opening hours of each weekday (0 = Monday): its intervals' lengths summed."""
        return {weekday: sum(_end_minute(end) - _minute_of_day(start)
                             for start, end in intervals) / 60
                for weekday, intervals in enumerate(self.days)}


@dataclass(frozen=True, slots=True)
class DailyHours:
    """A span of local wall-clock time each day, whole minutes; an end of 00:00 means midnight.

    The assignment hours: bulk scheduling and the slots the system offers keep
    to them, while the working plan says what people may book themselves.
    """

    start: dt.time = ASSIGN_FROM
    end: dt.time = ASSIGN_UNTIL

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is not None or moment.second or moment.microsecond:
                raise ValueError(f"{moment} is not a plain hour and minute")
        if _micros(self.start) >= _end_micros(self.end):
            raise ValueError(f"hours {self.label()} are empty or reversed")

    @classmethod
    def parse(cls, text: str) -> DailyHours:
        """Read ``HH:MM-HH:MM`` (``24:00`` or ``00:00`` as the end is midnight)."""
        first, separator, last = text.strip().partition("-")
        if not separator:
            raise ValueError(f"write hours like 07:00-21:00, not {text!r}")
        return cls(parse_clock(first), parse_clock(last, end=True))

    def label(self) -> str:
        """The hours as people write them: ``07:00-21:00``, ``18:00-24:00``."""
        return f"{self.start:%H:%M}-{format_end(self.end)}"

    def holds(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether a slot from ``start`` to ``end`` (both in the local zone) lies inside.

        The slot must start and end within the hours of the day it starts on; a
        slot across midnight is inside only hours that end at midnight, and only
        when it ends exactly then.
        """
        if end <= start:
            return False
        begin = _micros(start.time())
        if end.date() == start.date():
            finish = _micros(end.time())
        elif end.date() == start.date() + dt.timedelta(days=1) and end.time() == MIDNIGHT:
            finish = _DAY_MICROS
        else:
            return False
        return _micros(self.start) <= begin and finish <= _end_micros(self.end)


def parse_clock(text: str, *, end: bool = False) -> dt.time:
    """Read ``HH:MM``; with ``end``, ``24:00`` is midnight (returned as 00:00)."""
    text = text.strip()
    hours, separator, minutes = text.partition(":")
    if not (separator and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and 1 <= len(hours) <= 2):
        raise ValueError(f"write a time like 07:00, not {text!r}")
    if end and (int(hours), int(minutes)) == (24, 0):
        return MIDNIGHT
    return dt.time(int(hours), int(minutes))


def format_end(end: dt.time) -> str:
    """An end of a span as people write it: midnight is ``24:00``."""
    return "24:00" if end == MIDNIGHT else f"{end:%H:%M}"


def within_hours(slots: Iterable[SlotSpec], hours: DailyHours) -> list[SlotSpec]:
    """The slots lying inside the daily hours, in their order."""
    return [slot for slot in slots if hours.holds(slot.start, slot.end)]


@dataclass(frozen=True)
class CalendarSpec:
    """The registration window and everything that decides its slots and their capacity."""

    window_start: dt.datetime
    window_end: dt.datetime
    tz: str = DEFAULT_TZ
    plan: WorkingPlan = field(default_factory=WorkingPlan)
    slot_minutes: int = 30
    holidays: Mapping[dt.date, str] = field(default_factory=dict)
    # Holidays stay open and get *more* places: in 2022 the form server only
    # coped on holidays, when office workers were not all on it at once.
    holiday_weight: float = 1.5
    weight_overrides: Mapping[dt.date, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window_start.tzinfo is None or self.window_end.tzinfo is None:
            raise ValueError("window_start and window_end must be timezone-aware")
        if self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")
        if self.slot_minutes <= 0:
            raise ValueError("slot_minutes must be positive")
        if not (math.isfinite(self.holiday_weight) and self.holiday_weight >= 0):
            raise ValueError("holiday_weight cannot be negative")
        for day, weight in self.weight_overrides.items():
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"the weight of {day} cannot be negative")
        ZoneInfo(self.tz)  # fail here, not halfway through generating slots

    def weight_on(self, day: dt.date) -> float:
        """Return the capacity weight of a day: override, else holiday weight, else 1."""
        if day in self.weight_overrides:
            return self.weight_overrides[day]
        return self.holiday_weight if day in self.holidays else 1.0


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """One bookable time slot: aware start and end in the calendar's zone, and its capacity."""

    start: dt.datetime
    end: dt.datetime
    capacity: int
    holiday: str | None
    day: dt.date


def holiday_calendar(
    years: Iterable[int],
    extra_dates: Mapping[dt.date, str] | None = None,
    removed_dates: Iterable[dt.date] = (),
    language: str = "id",
) -> dict[dt.date, str]:
    """Return Indonesian public holidays and cuti bersama for the years, with operator edits."""
    # "government" is where the holidays package keeps cuti bersama, the
    # collective leave days around Lebaran, Christmas and others.
    found = holidays.country_holidays(
        "ID", years=sorted(set(years)), categories=("public", "government"), language=language
    )
    calendar = {day: str(name) for day, name in sorted(found.items())}
    for day in removed_dates:
        calendar.pop(day, None)
    calendar.update(extra_dates or {})
    return dict(sorted(calendar.items()))


def slot_capacity(
    max_active: int,
    booked_share: float,
    slot_minutes: int,
    expected_session_minutes: float,
    weight: float = 1.0,
) -> int:
    """Return floor(booked_share * max_active * slot_minutes / session_minutes * weight), >= 0."""
    if expected_session_minutes <= 0:
        raise ValueError("expected_session_minutes must be positive")
    # Decimal-exact: 0.3 typed by an operator means 3/10, so 0.3 * 1000 places
    # must give 300, not 299 from the binary float 0.29999...
    places = (
        _exact(booked_share)
        * max_active
        * slot_minutes
        * _exact(weight)
        / _exact(expected_session_minutes)
    )
    return max(0, math.floor(places))


def generate_slots(
    spec: CalendarSpec,
    max_active: int,
    booked_share: float,
    expected_session_minutes: float,
) -> list[SlotSpec]:
    """Return the slots of the window in time order: aligned to the plan, full length only."""
    zone = ZoneInfo(spec.tz)
    window_start = spec.window_start.astimezone(_UTC)
    window_end = spec.window_end.astimezone(_UTC)
    step = dt.timedelta(minutes=spec.slot_minutes)
    capacity_by_weight: dict[float, int] = {}
    slots: list[SlotSpec] = []
    # One day of margin each side: a local day can start before the window's
    # UTC instant yet still hold slots inside it.
    day = spec.window_start.astimezone(zone).date() - dt.timedelta(days=1)
    last_day = spec.window_end.astimezone(zone).date()
    while day <= last_day:
        intervals = spec.plan.days[day.weekday()]
        if intervals:
            weight = spec.weight_on(day)
            capacity = capacity_by_weight.get(weight)
            if capacity is None:
                capacity = slot_capacity(
                    max_active, booked_share, spec.slot_minutes, expected_session_minutes, weight
                )
                capacity_by_weight[weight] = capacity
            holiday = spec.holidays.get(day)
            for start, end in intervals:
                _add_interval_slots(
                    slots, day, start, end, zone, step, window_start, window_end, capacity, holiday
                )
        day += dt.timedelta(days=1)
    return slots


def _add_interval_slots(
    slots: list[SlotSpec],
    day: dt.date,
    start: dt.time,
    end: dt.time,
    zone: ZoneInfo,
    step: dt.timedelta,
    window_start: dt.datetime,
    window_end: dt.datetime,
    capacity: int,
    holiday: str | None,
) -> None:
    # Step in UTC: arithmetic on aware datetimes in one zone is wall-clock
    # arithmetic and would make slots an hour long or short across a DST change.
    begin = dt.datetime.combine(day, start, tzinfo=zone).astimezone(_UTC)
    end_day = day + dt.timedelta(days=1) if end == MIDNIGHT else day
    finish = dt.datetime.combine(end_day, end, tzinfo=zone).astimezone(_UTC)
    finish = min(finish, window_end)
    cursor = begin
    if cursor < window_start:
        # Keep the plan's grid: jump to the first grid point inside the window.
        cursor += step * -((cursor - window_start) // step)
    append = slots.append
    while cursor + step <= finish:
        slot_end = cursor + step
        append(SlotSpec(cursor.astimezone(zone), slot_end.astimezone(zone), capacity, holiday, day))
        cursor = slot_end


def _minute_of_day(moment: dt.time) -> int:
    return moment.hour * 60 + moment.minute


def _end_minute(end: dt.time) -> int:
    return 24 * 60 if end == MIDNIGHT else _minute_of_day(end)


def _micros(moment: dt.time) -> int:
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + (
        moment.microsecond)


def _end_micros(end: dt.time) -> int:
    return _DAY_MICROS if end == MIDNIGHT else _micros(end)


def _exact(value: float) -> Fraction:
    return Fraction(value) if isinstance(value, int) else Fraction(repr(float(value)))
