"""SQL figures for the dashboard and the planner: submissions, roster, slot use."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.orm import Session

from portal.form.models import Registrant, Submission
from scheduler.models import Slot
from scheduler.store import calendar_spec, get_calendar


@dataclass(frozen=True)
class Counts:
    """How far the registration got."""

    submissions_total: int
    submissions_today: int
    roster_size: int


def local_midnight_utc(today: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of a local day's midnight."""
    return dt.datetime.combine(today, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _bound(session: Session, moment: dt.datetime) -> dt.datetime:
    # SQLite keeps CURRENT_TIMESTAMP as naive UTC text: compare it with naive UTC.
    if session.get_bind().dialect.name == "sqlite":
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def counts(session: Session, tz: ZoneInfo, now: dt.datetime | None = None) -> Counts:
    """Submissions in total and since local midnight, and the roster's size."""
    now = now or dt.datetime.now(dt.UTC)
    midnight = _bound(session, local_midnight_utc(now.astimezone(tz).date(), tz))
    total = session.scalar(select(func.count()).select_from(Submission)) or 0
    today = session.scalar(select(func.count()).select_from(Submission)
                           .where(Submission.created_at >= midnight)) or 0
    roster = session.scalar(
        select(func.count()).select_from(Registrant).where(Registrant.on_roster)) or 0
    return Counts(int(total), int(today), int(roster))


def submissions_per_day(session: Session, tz: ZoneInfo, days: int = 31,
                        now: dt.datetime | None = None) -> list[tuple[dt.date, int]]:
    """Submissions per local day over the last ``days`` days, oldest first, zeros included."""
    now = now or dt.datetime.now(dt.UTC)
    last = now.astimezone(tz).date()
    first = last - dt.timedelta(days=days - 1)
    since = _bound(session, local_midnight_utc(first, tz))
    if session.get_bind().dialect.name == "sqlite":
        # A fixed offset is right for Indonesia's zones (no daylight saving).
        offset = now.astimezone(tz).utcoffset() or dt.timedelta(0)
        day: ColumnElement[Any] = func.date(Submission.created_at,
                                            f"{int(offset.total_seconds())} seconds")
    else:
        day = cast(func.timezone(tz.key, Submission.created_at), Date)
    rows = session.execute(select(day, func.count()).where(Submission.created_at >= since)
                           .group_by(day)).all()
    found = {(r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(str(r[0]))): int(r[1])
             for r in rows}
    return [(first + dt.timedelta(days=i), found.get(first + dt.timedelta(days=i), 0))
            for i in range(days)]


@dataclass(frozen=True)
class HeatMap:
    """Slot use by local day and hour: booked / capacity, None where there is no slot."""

    days: list[dt.date]
    hours: list[int]
    cells: dict[tuple[dt.date, int], tuple[int, int]]

    def use(self, day: dt.date, hour: int) -> float | None:
        """Booked share of the hour's places (None without slots)."""
        booked, capacity = self.cells.get((day, hour), (0, 0))
        if not capacity:
            return None if (day, hour) not in self.cells else 0.0
        return booked / capacity


def slot_heat_map(session: Session, room: str, tz: ZoneInfo, max_days: int = 62) -> HeatMap:
    """Aggregate the room's slots by local day and hour."""
    cells: dict[tuple[dt.date, int], list[int]] = defaultdict(lambda: [0, 0])
    query = (select(Slot.start, Slot.capacity, Slot.booked).where(Slot.room == room)
             .order_by(Slot.start).limit(max_days * 24 * 12))
    for start, capacity, booked in session.execute(query):
        local = start.astimezone(tz)
        cell = cells[(local.date(), local.hour)]
        cell[0] += booked
        cell[1] += capacity
    days = sorted({day for day, _ in cells})[:max_days]
    hours = sorted({hour for _, hour in cells})
    return HeatMap(days, hours, {key: (v[0], v[1]) for key, v in cells.items()})


@dataclass(frozen=True)
class CalendarFacts:
    """What the planner needs from the saved calendar, if there is one."""

    window_end: dt.datetime | None
    holidays: dict[dt.date, str]
    holiday_weight: float
    open_hours: dict[int, float]  # weekday -> opening hours
    weight_overrides: dict[dt.date, float] = field(default_factory=dict)


def calendar_facts(session: Session, room: str, tz: ZoneInfo) -> CalendarFacts:
    """The window end, holidays, holiday weight and opening hours of the room's calendar."""
    row = get_calendar(session, room)
    if row is None:
        return CalendarFacts(None, {}, 1.5, {})
    spec = calendar_spec(row)
    return CalendarFacts(spec.window_end, dict(spec.holidays), spec.holiday_weight,
                         spec.plan.open_hours(),
                         dict(spec.weight_overrides))
