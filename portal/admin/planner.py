"""The capacity planner (pure): when will everyone be through, and what cap would it take."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class PlanInput:
    """What the operator plans with."""

    roster_size: int
    through: int
    start: dt.date
    deadline: dt.date
    cap: int
    session_minutes: float
    hours_per_day: float = 10.0
    # Share of the cap's places actually used (people leave early, come late).
    utilisation: float = 0.8
    holidays: Mapping[dt.date, str] = field(default_factory=dict)
    holiday_weight: float = 1.5
    weight_overrides: Mapping[dt.date, float] = field(default_factory=dict)
    hours_by_weekday: Mapping[int, float] = field(default_factory=dict)

    def weight_on(self, day: dt.date) -> float:
        """A day's capacity weight: override, else the holiday weight, else 1."""
        if day in self.weight_overrides:
            return self.weight_overrides[day]
        return self.holiday_weight if day in self.holidays else 1.0

    # Hours added to every open day (what the planner asks: "how many more hours?").
    extra_hours: float = 0.0

    def hours_on(self, day: dt.date) -> float:
        """Opening hours of a day (the calendar's working plan, else the typed hours).

        Extra hours lengthen open days only, up to the whole day: a closed day stays shut.
        """
        hours = self.hours_by_weekday.get(day.weekday(), self.hours_per_day)
        return min(24.0, hours + self.extra_hours) if hours > 0 else 0.0


@dataclass(frozen=True)
class PlanDay:
    """One day of the projection."""

    day: dt.date
    capacity: int
    cumulative: int
    holiday: str | None
    weight: float


@dataclass(frozen=True)
class Projection:
    """The answer: days, finishing date, waits and the cap the deadline needs."""

    remaining: int
    days: list[PlanDay]
    finish: dt.date | None  # None: not within the horizon
    on_time: bool
    per_day_needed: float
    cap_needed: int | None  # None: no opening time left before the deadline
    # With cap_needed, the day everyone is through (on or before the deadline).
    finish_with_cap: dt.date | None
    # Hours to add to every open day, at the planned cap, to finish by the deadline
    # (in half hours; None: not even 24-hour days would do, or no open day is left).
    extra_hours_needed: float | None
    worst_wait_minutes: float | None  # if everyone remaining queued at once
    average_wait_minutes: float | None  # if they spread evenly over the days left


def day_capacity(plan: PlanInput, day: dt.date, cap: int | None = None) -> int:
    """People one day can take: cap x sessions per place x weight x utilisation."""
    cap = plan.cap if cap is None else cap
    sessions = plan.hours_on(day) * 60 / plan.session_minutes
    return max(0, math.floor(cap * sessions * plan.weight_on(day) * plan.utilisation))


def through_by(plan: PlanInput, cap: int | None = None) -> int:
    """People the days from ``start`` to ``deadline`` can take at ``cap`` (the plan's)."""
    total, day = 0, plan.start
    while day <= plan.deadline:
        total += day_capacity(plan, day, cap)
        day += dt.timedelta(days=1)
    return total


def finish_day(plan: PlanInput, remaining: int, cap: int | None = None,
               horizon_days: int = 366) -> dt.date | None:
    """The day the ``remaining`` people are through at ``cap``, within the horizon."""
    if remaining <= 0:
        return plan.start
    total, day = 0, plan.start
    for _ in range(horizon_days):
        total += day_capacity(plan, day, cap)
        if total >= remaining:
            return day
        day += dt.timedelta(days=1)
    return None


def cap_needed(plan: PlanInput, remaining: int) -> int | None:
    """The smallest cap that takes ``remaining`` people by the deadline (None: no open day)."""
    if remaining <= 0:
        return 1
    if through_by(plan, 1) == 0 and through_by(plan, 10**6) == 0:
        return None
    low, high = 1, 1
    while through_by(plan, high) < remaining:  # each doubling at least doubles capacity
        low, high = high + 1, high * 2
    while low < high:
        middle = (low + high) // 2
        if through_by(plan, middle) >= remaining:
            high = middle
        else:
            low = middle + 1
    return low


def extra_hours_needed(plan: PlanInput, remaining: int, step: float = 0.5) -> float | None:
    """The fewest hours (in ``step``s) added to every open day to finish by the deadline."""
    if through_by(plan) >= remaining:
        return 0.0
    extra = 0.0
    while extra < 24:
        extra += step
        if through_by(replace(plan, extra_hours=plan.extra_hours + extra)) >= remaining:
            return extra
    return None


def project(plan: PlanInput, horizon_days: int = 366) -> Projection:
    """Project day by day from ``start`` until everyone is through (or the horizon)."""
    if plan.session_minutes <= 0 or plan.cap < 1:
        raise ValueError("cap and session length must be positive")
    remaining = max(0, plan.roster_size - plan.through)
    days: list[PlanDay] = []
    cumulative = 0
    finish: dt.date | None = None if remaining else plan.start
    day = plan.start
    last = max(plan.deadline, plan.start)
    while day <= last or (finish is None and len(days) < horizon_days):
        capacity = day_capacity(plan, day)
        cumulative += capacity
        days.append(PlanDay(day, capacity, min(cumulative, remaining) if remaining else 0,
                            plan.holidays.get(day), plan.weight_on(day)))
        if finish is None and cumulative >= remaining:
            finish = day
        day += dt.timedelta(days=1)
    window = [d for d in days if d.day <= plan.deadline]
    per_place = sum(plan.hours_on(d.day) * 60 / plan.session_minutes * d.weight
                    * plan.utilisation for d in window)
    needed = cap_needed(plan, remaining) if per_place > 0 else None
    per_day_needed = remaining / len(window) if window else float(remaining)
    per_minute = plan.cap * plan.utilisation / plan.session_minutes
    worst = remaining / per_minute if per_minute > 0 else None
    # Evenly spread demand: each day's arrivals fit if per_day_needed <= a day's capacity;
    # the excess queues up, on average half a day's excess ahead of each arrival.
    average = None
    if window and per_minute > 0:
        typical = sum(d.capacity for d in window) / len(window)
        excess = max(0.0, per_day_needed - typical)
        average = excess / 2 / per_minute
    return Projection(remaining, days, finish, finish is not None and finish <= plan.deadline,
                      per_day_needed, needed,
                      None if needed is None else finish_day(plan, remaining, needed),
                      extra_hours_needed(plan, remaining) if per_place > 0 else None,
                      worst, average)
