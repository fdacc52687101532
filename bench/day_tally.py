"""What a simulated window came to, day by day and in all (pure: the visits in, counts out)."""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bench.day_sim import ACTIVE, ADMITTED, LAPSED, LEFT, SERVED, SILENT, WAITING, SimResult

MINUTE_MS = 60_000


@dataclass(frozen=True)
class DayRow:
    """One local day: who came, who got through, who gave up, the longest wait."""

    day: dt.date
    arrived: int
    served: int
    gave_up: int
    longest_wait_ms: int  # of those who came that day and were let in
    waiting_at_close: int | None  # None: not a day of the window


@dataclass(frozen=True)
class Outcome:
    """The whole run, counted per visit (one queue number each) and per person."""

    days: list[DayRow]
    visits: int
    served: int
    left: int
    gone_silent: int  # closed the page while waiting
    lapsed: int  # let in, but claimed too late
    still_waiting: int
    in_room: int  # admitted or in a session when the run stopped
    persons_arrived: int
    persons_served: int
    persons_served_by_deadline: int
    booked_visits: int
    booked_served: int
    waits_ms: list[int]  # every admitted visit's wait, sorted (silent ones left out)
    booked_waits_ms: list[int]
    # At the deadline's closing, of those still trying: (waiting, holding a place).
    at_deadline: tuple[int, int] | None
    last_served_ms: int | None

    @property
    def through_by_deadline(self) -> bool:
        """Whether everyone who came had registered by the deadline's closing."""
        return self.persons_served_by_deadline == self.persons_arrived

    @property
    def gave_up(self) -> int:
        """Visits that ended without being served: left, gone silent or lapsed."""
        return self.left + self.gone_silent + self.lapsed


def percentile(sorted_values: Sequence[int], share: float) -> int | None:
    """The nearest-rank percentile of sorted values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def local_days(first: dt.date, last_ms: int, zone: ZoneInfo) -> tuple[list[dt.date], list[int]]:
    """Every local date from ``first`` up to the one holding ``last_ms``, and its midnight (ms)."""
    dates: list[dt.date] = []
    midnights: list[int] = []
    day = first
    while True:
        midnight = int(dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp() * 1000)
        if midnight > last_ms:
            return dates, midnights
        dates.append(day)
        midnights.append(midnight)
        day += dt.timedelta(days=1)


def tally(result: SimResult, first_day: dt.date, window_days: dict[dt.date, int],
          zone: ZoneInfo) -> Outcome:
    """Count a run's visits by outcome and by local day.

    ``window_days`` maps the window's open dates to their index (the simulation's
    closing records are kept by index).
    """
    visits = result.visits
    last = max(result.end_ms, result.deadline_ms)
    dates, midnights = local_days(first_day, last, zone)
    arrived = [0] * len(dates)
    served = [0] * len(dates)
    gave_up = [0] * len(dates)
    longest = [0] * len(dates)

    def on(ms: int) -> int:
        return max(0, bisect.bisect_right(midnights, ms) - 1)

    counts = dict.fromkeys((SERVED, LEFT, SILENT, LAPSED), 0)
    waiting = in_room = booked_visits = booked_served = 0
    waits: list[int] = []
    booked_waits: list[int] = []
    arrived_persons: set[int] = set()
    served_persons: set[int] = set()
    served_by_deadline: set[int] = set()
    last_served: int | None = None
    for number in range(1, len(visits) + 1):
        stage = visits.stage[number]
        joined = visits.joined[number]
        person = visits.person[number]
        booked = visits.booked[number]
        arrived_persons.add(person)
        arrived[on(joined)] += 1
        booked_visits += booked
        admitted = visits.admitted[number]
        if admitted >= 0 and stage != SILENT:
            wait = admitted - joined
            (booked_waits if booked else waits).append(wait)
            longest[on(joined)] = max(longest[on(joined)], wait)
        if stage in counts:
            counts[stage] += 1
        if stage == SERVED:
            done = visits.done[number]
            served[on(done)] += 1
            served_persons.add(person)
            booked_served += booked
            if done <= result.deadline_ms:
                served_by_deadline.add(person)
            last_served = done if last_served is None else max(last_served, done)
        elif stage in (LEFT, SILENT, LAPSED):
            gave_up[on(visits.done[number])] += 1
        elif stage == WAITING:
            waiting += 1
        elif stage in (ADMITTED, ACTIVE):
            in_room += 1
    waits.sort()
    booked_waits.sort()
    rows = []
    for index, day in enumerate(dates):
        close = window_days.get(day)
        at_close = result.at_close.get(close) if close is not None else None
        rows.append(DayRow(day, arrived[index], served[index], gave_up[index], longest[index],
                           None if at_close is None else at_close[0]))
    deadline_close = result.at_close.get(max(window_days.values())) if window_days else None
    return Outcome(rows, len(visits), counts[SERVED], counts[LEFT], counts[SILENT],
                   counts[LAPSED], waiting, in_room, len(arrived_persons), len(served_persons),
                   len(served_by_deadline), booked_visits, booked_served, waits, booked_waits,
                   deadline_close, last_served)
