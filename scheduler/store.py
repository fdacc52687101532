"""SQL side of the scheduler: the calendar settings, the roster and the slots.

Every function takes a SQLAlchemy ``Session`` and never commits: the caller
owns the transaction, so an error halfway leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from scheduler.calendar import (
    DEFAULT_TZ,
    CalendarSpec,
    DailyHours,
    SlotSpec,
    WorkingPlan,
    generate_slots,
    holiday_calendar,
)
from scheduler.models import Booking, CalendarSettings, Registrant, Slot
from scheduler.roster import Registrant as RosterRow
from scheduler.roster import RosterReport

Progress = Callable[[int, int], None]

DEFAULT_MIN_NOTICE_MINUTES = 60
_LOOKUP_CHUNK = 5000  # NIKs per IN (...) query: well under every driver's parameter limit
_WRITE_CHUNK = 5000
# on_roster is among them: a NIK that booked before the import joins the roster with it.
_ROSTER_FIELDS = ("name", "unit_kerja", "instansi", "jabatan", "phone", "email", "on_roster")


@dataclass(frozen=True, slots=True)
class CapacityRule:
    """The planned waiting-room numbers that decide how many bookings a slot takes.

    Operators set them with the calendar. They are a plan, not the live cap: the
    cap lowered during an incident must not shrink every slot and overfill them.
    """

    max_active: int = 100
    booked_share: float = 0.3
    expected_session_minutes: float = 20.0

    def __post_init__(self) -> None:
        if isinstance(self.max_active, bool) or not isinstance(self.max_active, int) or (
                self.max_active < 1):
            raise ValueError("the planned max_active must be a whole number of at least 1")
        if not (math.isfinite(self.booked_share) and 0 <= self.booked_share <= 1):
            raise ValueError("the planned booked_share must be between 0 and 1")
        if not (math.isfinite(self.expected_session_minutes)
                and self.expected_session_minutes > 0):
            raise ValueError("the planned expected_session_minutes must be positive")


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What a roster import did to the registrants table."""

    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class SlotChanges:
    """What regenerating the slots did; ``over_capacity`` counts future slots now overfull."""

    created: int
    updated: int
    removed: int
    retired_with_bookings: int
    over_capacity: int


# --- Calendar settings ----------------------------------------------------------


def plan_to_json(plan: WorkingPlan) -> list[list[list[str]]]:
    """Encode a working plan as seven lists of ["HH:MM", "HH:MM"] intervals."""
    return [
        [[start.strftime("%H:%M"), end.strftime("%H:%M")] for start, end in intervals]
        for intervals in plan.days
    ]


def plan_from_json(days: Sequence[Sequence[Sequence[str]]]) -> WorkingPlan:
    """Decode what plan_to_json wrote; raise ValueError on a malformed plan."""
    return WorkingPlan(
        tuple(
            tuple((dt.time.fromisoformat(start), dt.time.fromisoformat(end)) for start, end in day)
            for day in days
        )
    )


def get_calendar(session: Session, room: str) -> CalendarSettings | None:
    """Return the calendar settings of a room, or None when none were saved."""
    return session.scalar(select(CalendarSettings).where(CalendarSettings.room == room))


def save_calendar(
    session: Session,
    room: str,
    *,
    window_start: dt.datetime,
    window_end: dt.datetime,
    timezone: str = DEFAULT_TZ,
    slot_minutes: int = 30,
    plan: WorkingPlan | None = None,
    holiday_weight: float = 1.5,
    extra_holidays: Mapping[dt.date, str] | None = None,
    removed_holidays: Iterable[dt.date] = (),
    min_notice_minutes: int = DEFAULT_MIN_NOTICE_MINUTES,
    weight_overrides: Mapping[dt.date, float] | None = None,
    capacity: CapacityRule | None = None,
    assignment_hours: DailyHours | None = None,
) -> CalendarSettings:
    """Create or replace the calendar settings of a room (validated like CalendarSpec).

    ``capacity`` is the planned cap that sizes the slots, ``assignment_hours``
    the local hours bulk assignment and offers keep to (both default as
    CapacityRule and DailyHours do).
    """
    plan = plan or WorkingPlan()
    capacity = capacity or CapacityRule()
    hours = assignment_hours or DailyHours()
    overrides = dict(weight_overrides or {})
    # Build the spec first: it refuses a reversed window, an unknown zone, a bad weight.
    CalendarSpec(window_start, window_end, timezone, plan, slot_minutes,
                 holiday_weight=holiday_weight, weight_overrides=overrides)
    if min_notice_minutes < 0:
        raise ValueError("min_notice_minutes cannot be negative")
    row = get_calendar(session, room)
    if row is None:
        row = CalendarSettings(room=room)
        session.add(row)
    row.window_start = window_start
    row.window_end = window_end
    row.timezone = timezone
    row.slot_minutes = slot_minutes
    row.working_plan = plan_to_json(plan)
    row.holiday_weight = holiday_weight
    row.extra_holidays = {day.isoformat(): name for day, name in (extra_holidays or {}).items()}
    row.removed_holidays = sorted(day.isoformat() for day in removed_holidays)
    row.min_notice_minutes = min_notice_minutes
    row.weight_overrides = {day.isoformat(): float(w) for day, w in sorted(overrides.items())}
    row.planned_max_active = capacity.max_active
    row.planned_booked_share = float(capacity.booked_share)
    row.planned_session_minutes = float(capacity.expected_session_minutes)
    # "HH:MM" like the working plan, where an end of "00:00" is midnight.
    row.assign_start = hours.start.strftime("%H:%M")
    row.assign_end = hours.end.strftime("%H:%M")
    session.flush()
    return row


def capacity_of(row: CalendarSettings) -> CapacityRule:
    """The planned numbers saved with a calendar, which size its slots."""
    return CapacityRule(row.planned_max_active, row.planned_booked_share,
                        row.planned_session_minutes)


def assignment_hours_of(row: CalendarSettings | None) -> DailyHours:
    """The hours bulk assignment and offers keep to (the default ones without a calendar)."""
    if row is None:
        return DailyHours()
    return DailyHours(dt.time.fromisoformat(row.assign_start),
                      dt.time.fromisoformat(row.assign_end))


def calendar_spec(row: CalendarSettings) -> CalendarSpec:
    """Return the pure calendar of saved settings, holidays of the window's years included."""
    zone = ZoneInfo(row.timezone)
    first = row.window_start.astimezone(zone).year
    last = row.window_end.astimezone(zone).year
    holidays = holiday_calendar(
        range(first, last + 1),
        extra_dates={dt.date.fromisoformat(day): name for day, name in row.extra_holidays.items()},
        removed_dates=[dt.date.fromisoformat(day) for day in row.removed_holidays],
    )
    return CalendarSpec(
        window_start=row.window_start,
        window_end=row.window_end,
        tz=row.timezone,
        plan=plan_from_json(row.working_plan),
        slot_minutes=row.slot_minutes,
        holidays=holidays,
        holiday_weight=row.holiday_weight,
        weight_overrides=weight_overrides_of(row),
    )


def weight_overrides_of(row: CalendarSettings) -> dict[dt.date, float]:
    """Return the saved per-date capacity weights of a room's calendar."""
    return {dt.date.fromisoformat(day): float(w) for day, w in (row.weight_overrides or {}).items()}


def min_notice(session: Session, room: str) -> dt.timedelta:
    """Return how long before a slot starts it can still be booked, moved or cancelled."""
    minutes = session.scalar(
        select(CalendarSettings.min_notice_minutes).where(CalendarSettings.room == room)
    )
    return dt.timedelta(minutes=DEFAULT_MIN_NOTICE_MINUTES if minutes is None else minutes)


# --- Roster -------------------------------------------------------------------


def import_registrants(
    session: Session, report: RosterReport, progress: Progress | None = None
) -> ImportCounts:
    """Upsert the report's valid rows by NIK: insert new, update changed, leave the rest."""
    rows = report.rows
    inserted = updated = unchanged = 0
    for offset in range(0, len(rows), _LOOKUP_CHUNK):
        chunk = rows[offset : offset + _LOOKUP_CHUNK]
        existing = {
            found.nik: found
            for found in session.execute(
                select(Registrant.id, Registrant.nik, *_roster_columns()).where(
                    Registrant.nik.in_([row.nik for row in chunk])
                )
            )
        }
        new_rows: list[dict[str, object]] = []
        changed_rows: list[dict[str, object]] = []
        for row in chunk:
            values = _roster_values(row)
            current = existing.get(row.nik)
            if current is None:
                new_rows.append({"nik": row.nik, **values})
            elif tuple(getattr(current, name) for name in _ROSTER_FIELDS) != tuple(
                values[name] for name in _ROSTER_FIELDS
            ):
                changed_rows.append({"id": current.id, **values})
            else:
                unchanged += 1
        # Executemany in one call per chunk: no round trip per registrant.
        if new_rows:
            session.execute(insert(Registrant), new_rows)
        if changed_rows:
            session.execute(update(Registrant), changed_rows)
        inserted += len(new_rows)
        updated += len(changed_rows)
        if progress is not None:
            progress(offset + len(chunk), len(rows))
    return ImportCounts(inserted, updated, unchanged)


def _roster_columns() -> list[object]:
    return [getattr(Registrant, name) for name in _ROSTER_FIELDS]


def _roster_values(row: RosterRow) -> dict[str, object]:
    # Empty spreadsheet cells are stored as NULL: "no unit given", not a unit named "".
    return {
        "name": row.name,
        "unit_kerja": row.unit_kerja or None,
        "instansi": row.instansi or None,
        "jabatan": row.jabatan or None,
        "phone": row.phone_e164 or None,
        "email": row.email or None,
        "on_roster": True,
    }


# --- Slots --------------------------------------------------------------------


def regenerate_slots(session: Session, room: str, now: dt.datetime) -> SlotChanges:
    """Bring the room's future slots in line with its calendar and its planned capacity.

    The capacity is the one saved with the calendar, never the room's live cap.
    Slots that have started are history and stay as they are. A future slot the
    calendar still has gets its new capacity; one it no longer has is deleted
    if nobody ever booked it, else kept with capacity 0 so its bookings stay.
    """
    row = get_calendar(session, room)
    if row is None:
        raise LookupError(f"no calendar saved for room {room!r}")
    rule = capacity_of(row)
    wanted = [
        spec
        for spec in generate_slots(
            calendar_spec(row), rule.max_active, rule.booked_share, rule.expected_session_minutes
        )
        if spec.start >= now
    ]
    existing = {
        slot.start: slot
        for slot in session.execute(
            select(Slot.id, Slot.start, Slot.end, Slot.capacity, Slot.holiday).where(
                Slot.room == room, Slot.start >= now
            )
        )
    }
    to_insert: list[dict[str, object]] = []
    to_update: list[dict[str, object]] = []
    for spec in wanted:
        start = spec.start.astimezone(dt.UTC)
        current = existing.pop(start, None)
        values = _slot_values(spec)
        if current is None:
            to_insert.append({"room": room, "start": start, "booked": 0, **values})
        elif (current.end, current.capacity, current.holiday) != (
            values["end"],
            values["capacity"],
            values["holiday"],
        ):
            to_update.append({"id": current.id, **values})
    leftover = [slot.id for slot in existing.values()]
    referenced: set[int] = set()
    for offset in range(0, len(leftover), _LOOKUP_CHUNK):
        chunk = leftover[offset : offset + _LOOKUP_CHUNK]
        referenced.update(
            session.scalars(select(Booking.slot_id).where(Booking.slot_id.in_(chunk)).distinct())
        )
    retired = [slot_id for slot_id in leftover if slot_id in referenced]
    unused = [slot_id for slot_id in leftover if slot_id not in referenced]
    for offset in range(0, len(to_insert), _WRITE_CHUNK):
        session.execute(insert(Slot), to_insert[offset : offset + _WRITE_CHUNK])
    for offset in range(0, len(to_update), _WRITE_CHUNK):
        session.execute(update(Slot), to_update[offset : offset + _WRITE_CHUNK])
    for offset in range(0, len(retired), _LOOKUP_CHUNK):
        session.execute(
            update(Slot)
            .where(Slot.id.in_(retired[offset : offset + _LOOKUP_CHUNK]))
            .values(capacity=0)
        )
    for offset in range(0, len(unused), _LOOKUP_CHUNK):
        session.execute(delete(Slot).where(Slot.id.in_(unused[offset : offset + _LOOKUP_CHUNK])))
    over = session.scalar(
        select(func.count())
        .select_from(Slot)
        .where(Slot.room == room, Slot.start >= now, Slot.booked > Slot.capacity)
    )
    return SlotChanges(len(to_insert), len(to_update), len(unused), len(retired), int(over or 0))


def _slot_values(spec: SlotSpec) -> dict[str, object]:
    return {
        "end": spec.end.astimezone(dt.UTC),
        "day": spec.day,
        "capacity": spec.capacity,
        "holiday": spec.holiday,
    }


def list_slots(
    session: Session, room: str, first_day: dt.date | None = None, last_day: dt.date | None = None
) -> list[Slot]:
    """Return the room's open or booked slots whose local day is in [first_day, last_day]."""
    query = select(Slot).where(Slot.room == room, (Slot.capacity > 0) | (Slot.booked > 0))
    if first_day is not None:
        query = query.where(Slot.day >= first_day)
    if last_day is not None:
        query = query.where(Slot.day <= last_day)
    return list(session.scalars(query.order_by(Slot.start)))


def over_capacity_slots(session: Session, room: str) -> list[Slot]:
    """Return the room's slots holding more bookings than places, for operators to resolve."""
    return list(
        session.scalars(
            select(Slot)
            .where(Slot.room == room, Slot.booked > Slot.capacity)
            .order_by(Slot.start)
        )
    )


def unbooked_registrants(session: Session) -> int:
    """Return how many people on the roster have no active booking."""
    active = exists().where(Booking.registrant_id == Registrant.id, Booking.status == "active")
    return int(session.scalar(select(func.count()).select_from(Registrant).where(
        Registrant.on_roster, ~active)) or 0)


__all__ = [
    "CapacityRule",
    "ImportCounts",
    "SlotChanges",
    "assignment_hours_of",
    "calendar_spec",
    "capacity_of",
    "get_calendar",
    "import_registrants",
    "list_slots",
    "min_notice",
    "over_capacity_slots",
    "plan_from_json",
    "plan_to_json",
    "regenerate_slots",
    "save_calendar",
    "unbooked_registrants",
    "weight_overrides_of",
]
