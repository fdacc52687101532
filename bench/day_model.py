"""The people of a registration window, drawn from a model (``python -m bench.day`` replays
them through the room).

Pure: a calendar, a roster size and a seeded ``random.Random`` go in, plain values come
out. Every number in ``Behaviour`` is a modelling choice, not a measurement of anyone.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from scheduler.calendar import (
    CalendarSpec,
    DailyHours,
    SlotSpec,
    WorkingPlan,
    generate_slots,
    holiday_calendar,
    within_hours,
)
from scheduler.spreading import SlotLoad, spread_registrants

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Behaviour:
    """How registrants behave: when they come, who booked, how long they take, when they quit."""

    # A share of the roster books a slot beforehand; some of them never come.
    booking_share: float = 0.2
    no_show: float = 0.1
    # Walk-ins' day: 1 + start_rush e^(-i/rush_days) + deadline_rush e^(-(last-i)/rush_days)
    # for the i-th open day, times the day's opening hours, times holiday_arrivals on
    # public holidays and cuti bersama (people travel, offices are shut).
    start_rush: float = 1.5
    deadline_rush: float = 4.0
    rush_days: float = 2.0
    holiday_arrivals: float = 0.4
    # Walk-ins' time of day: a peak at 08:00, another after lunch, the rest even over
    # the opening hours (drawn again until it falls inside them).
    morning_peak_hour: float = 8.0
    morning_share: float = 0.35
    morning_sd_minutes: float = 45.0
    afternoon_peak_hour: float = 13.0
    afternoon_share: float = 0.35
    afternoon_sd_minutes: float = 60.0
    # Booked visitors come within the first half of their slot.
    slot_arrival_share: float = 0.5
    # The form takes a lognormal time whose mean is the planned session length.
    session_sigma: float = 0.5
    shortest_session_minutes: float = 2.0
    # From "your turn" (a poll or the notice) to claiming the place: lognormal; a
    # visitor admitted by their own join is sent straight in.
    claim_median_seconds: float = 20.0
    claim_sigma: float = 0.8
    claim_at_join_seconds: float = 2.0
    # How long a walk-in waits before giving up: lognormal, clipped.
    patience_median_minutes: float = 45.0
    patience_sigma: float = 1.0
    patience_min_minutes: float = 2.0
    patience_max_minutes: float = 360.0
    # Of those who give up, the share who just close the page (their place lapses when
    # reached) rather than leave the queue.
    silent_share: float = 0.5
    # Who gave up or let the admission lapse comes back on a later open day.
    retry: float = 0.6

    def session_ms(self, rng: random.Random, mean_minutes: float, longest_ms: int) -> int:
        """A session's length: lognormal with the planned mean, within [shortest, longest]."""
        mu = math.log(mean_minutes) - self.session_sigma ** 2 / 2
        minutes = rng.lognormvariate(mu, self.session_sigma)
        return int(min(longest_ms, max(self.shortest_session_minutes, minutes) * MINUTE_MS))

    def claim_ms(self, rng: random.Random, *, at_join: bool) -> int:
        """The time from admission to claiming the place."""
        if at_join:
            return int(self.claim_at_join_seconds * 1000)
        return int(rng.lognormvariate(math.log(self.claim_median_seconds), self.claim_sigma)
                   * 1000)

    def patience_ms(self, rng: random.Random) -> int:
        """How long a visitor waits in line before giving up."""
        minutes = rng.lognormvariate(math.log(self.patience_median_minutes), self.patience_sigma)
        return int(min(self.patience_max_minutes, max(self.patience_min_minutes, minutes))
                   * MINUTE_MS)


@dataclass(frozen=True)
class OpenDay:
    """One day of the window the room is open: its intervals (epoch ms) and weights."""

    day: dt.date
    index: int  # its place among the window's open days
    intervals: tuple[tuple[int, int], ...]
    midnight_ms: int  # local midnight, epoch ms
    holiday: str | None
    weight: float  # the calendar's capacity weight
    arrivals: float  # relative share of walk-ins

    @property
    def open_ms(self) -> int:
        """How long the room is open that day."""
        return sum(end - start for start, end in self.intervals)


def window_spec(first: dt.date, last: dt.date, hours: DailyHours, tz: str,
                holiday_weight: float = 1.5) -> CalendarSpec:
    """The calendar of a window open every day in ``hours``, with the public holidays and cuti
    bersama of its years (as ``antrean calendar set`` saves one)."""
    zone = ZoneInfo(tz)
    plan = WorkingPlan(tuple(((hours.start, hours.end),) for _ in range(7)))
    return CalendarSpec(
        window_start=dt.datetime.combine(first, dt.time(0), tzinfo=zone),
        window_end=dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone),
        tz=tz, plan=plan, holidays=holiday_calendar(range(first.year, last.year + 1)),
        holiday_weight=holiday_weight)


def open_days(spec: CalendarSpec, behaviour: Behaviour) -> list[OpenDay]:
    """The window's days with opening hours, each with its walk-in arrival weight."""
    zone = ZoneInfo(spec.tz)
    first = spec.window_start.astimezone(zone).date()
    last = (spec.window_end.astimezone(zone) - dt.timedelta(microseconds=1)).date()
    found: list[tuple[dt.date, tuple[tuple[int, int], ...], int]] = []
    day = first
    while day <= last:
        spans: list[tuple[int, int]] = []
        for start, end in spec.plan.intervals_on(day.weekday()):
            end_day = day + dt.timedelta(days=1) if end == dt.time(0) else day
            spans.append((_epoch_ms(dt.datetime.combine(day, start, tzinfo=zone)),
                          _epoch_ms(dt.datetime.combine(end_day, end, tzinfo=zone))))
        if spans:
            found.append((day, tuple(spans), _epoch_ms(dt.datetime.combine(day, dt.time(0),
                                                                           tzinfo=zone))))
        day += dt.timedelta(days=1)
    days = []
    final = len(found) - 1
    for index, (day, intervals, midnight) in enumerate(found):
        holiday = spec.holidays.get(day)
        rush = (1 + behaviour.start_rush * math.exp(-index / behaviour.rush_days)
                + behaviour.deadline_rush * math.exp(-(final - index) / behaviour.rush_days))
        hours = sum(end - start for start, end in intervals) / 3_600_000
        arrivals = rush * hours * (behaviour.holiday_arrivals if holiday else 1.0)
        days.append(OpenDay(day, index, intervals, midnight, holiday, spec.weight_on(day),
                            arrivals))
    return days


def draw_day(days: Sequence[OpenDay], rng: random.Random, after: int = -1) -> OpenDay | None:
    """A walk-in's day by the arrival weights, among the days after index ``after``."""
    later = days[after + 1:]
    if not later:
        return None
    return rng.choices(later, weights=[d.arrivals for d in later])[0]


def draw_time_ms(day: OpenDay, behaviour: Behaviour, rng: random.Random) -> int:
    """A walk-in's arrival time (epoch ms) on ``day``: the two peaks or even, inside the hours."""
    for _ in range(50):
        pick = rng.random()
        if pick < behaviour.morning_share:
            at = day.midnight_ms + rng.gauss(behaviour.morning_peak_hour * 60,
                                             behaviour.morning_sd_minutes) * MINUTE_MS
        elif pick < behaviour.morning_share + behaviour.afternoon_share:
            at = day.midnight_ms + rng.gauss(behaviour.afternoon_peak_hour * 60,
                                             behaviour.afternoon_sd_minutes) * MINUTE_MS
        else:
            break
        if any(start <= at < end for start, end in day.intervals):
            return int(at)
    offset = rng.random() * day.open_ms
    for start, end in day.intervals:
        if offset < end - start:
            return int(start + offset)
        offset -= end - start
    return day.intervals[-1][1] - 1


@dataclass(frozen=True)
class Arrival:
    """A registrant's first visit: when, and whether in a booked slot (priority lane)."""

    at_ms: int
    person: int
    booked: bool


@dataclass(frozen=True)
class Population:
    """Who comes when; a sample of ``sample`` of the roster stands for all of it."""

    roster: int
    sample: float
    persons: int  # drawn (about roster x sample)
    booked: int  # of them, with a booked slot
    no_shows: int  # booked ones who never come
    unbooked_wanting: int  # wanted a slot but found none (came as walk-ins)
    arrivals: list[Arrival]


def draw_population(roster: int, spec: CalendarSpec, days: Sequence[OpenDay], *,
                    planned_cap: int, booked_share: float, session_minutes: float,
                    behaviour: Behaviour, rng: random.Random, sample: float = 1.0,
                    assignment_hours: DailyHours | None = None) -> Population:
    """Draw the roster's first visits; with ``sample`` < 1, an even sample of it.

    Bookings are made for the whole roster, on the calendar's slots (sized from the
    planned cap) within the assignment hours, by the scheduler's own spreading;
    the sample then takes every ``1/sample``-th registrant of each slot and of the
    walk-ins, so a scaled run sees the same shape as a full one.
    """
    if not 0 < sample <= 1:
        raise ValueError("sample must be in (0, 1]")
    slots = within_hours(generate_slots(spec, planned_cap, booked_share, session_minutes),
                         assignment_hours or DailyHours())
    loads = [SlotLoad(i, s.day, s.start, s.capacity, 0, s.holiday is not None)
             for i, s in enumerate(slots)]
    wanting = round(roster * behaviour.booking_share)
    spread = spread_registrants(wanting, loads, max_active=planned_cap)
    slot_of: dict[Hashable, SlotSpec] = dict(enumerate(slots))
    arrivals: list[Arrival] = []
    taken = 0.0  # registrants passed so far, for the even sample
    booked = no_shows = 0
    for run in spread.runs:
        slot = slot_of[run.slot_id]
        kept = even_sample(taken, run.count, sample)
        taken += run.count
        start, end = _epoch_ms(slot.start), _epoch_ms(slot.end)
        for _ in range(kept):
            booked += 1
            if rng.random() < behaviour.no_show:
                no_shows += 1
                continue
            at = start + int(rng.random() * (end - start) * behaviour.slot_arrival_share)
            arrivals.append(Arrival(at, 0, True))
    walk_ins = even_sample(0.0, roster - spread.assigned, sample)
    for _ in range(walk_ins):
        day = draw_day(days, rng)
        if day is None:
            break
        arrivals.append(Arrival(draw_time_ms(day, behaviour, rng), 0, False))
    arrivals.sort(key=lambda a: a.at_ms)
    numbered = [Arrival(a.at_ms, person, a.booked) for person, a in enumerate(arrivals)]
    persons = len(numbered) + no_shows
    return Population(roster, sample, persons, booked, no_shows,
                      even_sample(0.0, spread.unassigned, sample), numbered)


def even_sample(before: float, count: int, sample: float) -> int:
    """How many of ``count`` registrants after the first ``before`` an even sample keeps."""
    return math.floor((before + count) * sample + 1e-9) - math.floor(before * sample + 1e-9)


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)
