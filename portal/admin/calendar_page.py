"""The calendar editor: window, working plan, holidays and per-date weights, previewed first."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.auth import Actor
from portal.admin.calendar_form import (
    WEEKDAYS,
    CalendarForm,
    Message,
    form_values,
    package_holidays,
    parse_calendar_form,
    saved_form,
    start_up_capacity,
)
from portal.state import state_of
from portal.web import checked_form
from scheduler.calendar import CalendarSpec, DailyHours, SlotSpec, generate_slots, within_hours
from scheduler.models import Booking, CalendarSettings, Registrant, Slot
from scheduler.store import (
    CapacityRule,
    SlotChanges,
    get_calendar,
    regenerate_slots,
    save_calendar,
)

SHOWN_CODES = 20  # booking codes listed per affected slot; the count says the rest
log = logging.getLogger("antrean.admin")

# --- Preview (pure) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentSlot:
    """A future slot as stored now, with how many hold it and whether any booking names it."""

    id: int
    start: dt.datetime
    end: dt.datetime
    capacity: int
    holiday: str | None
    booked: int
    referenced: bool


@dataclass(frozen=True, slots=True)
class DayPreview:
    """One day of the window under the new calendar."""

    day: dt.date
    weekday: str
    slots: int
    capacity: int
    holiday: str | None
    weight: float
    # The operator set this day's weight by date (it beats the holiday weight).
    override: bool = False


@dataclass(frozen=True, slots=True)
class AffectedSlot:
    """A booked slot that disappears (``must_move``) or gets fewer places than bookings."""

    slot_id: int
    start: dt.datetime
    end: dt.datetime
    booked: int
    capacity: int
    must_move: bool
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CalendarPreview:
    """What applying a calendar would do to the slots and the bookings in them."""

    days: list[DayPreview]
    total_slots: int
    total_capacity: int
    created: int
    updated: int
    removed: int
    affected: list[AffectedSlot] = field(default_factory=list)
    # Places in slots inside the assignment hours: what bulk assignment can fill.
    assignable_capacity: int | None = None

    @property
    def must_move(self) -> int:
        """How many bookings sit in slots that would disappear."""
        return sum(slot.booked for slot in self.affected if slot.must_move)

    @property
    def over_capacity(self) -> int:
        """How many bookings exceed the places of slots that stay."""
        return sum(slot.booked - slot.capacity for slot in self.affected if not slot.must_move)


def preview_calendar(spec: CalendarSpec, wanted: list[SlotSpec], current: list[CurrentSlot],
                     hours: DailyHours | None = None) -> CalendarPreview:
    """Compare the slots a calendar would give with the stored future ones (as regenerate does).

    With ``hours``, also count the places bulk assignment may use.
    """
    zone = ZoneInfo(spec.tz)
    first = spec.window_start.astimezone(zone).date()
    last = (spec.window_end.astimezone(zone) - dt.timedelta(microseconds=1)).date()
    per_day: dict[dt.date, list[SlotSpec]] = {}
    for slot in wanted:
        per_day.setdefault(slot.day, []).append(slot)
    days = []
    day = first
    while day <= last:
        slots = per_day.get(day, [])
        days.append(DayPreview(day, WEEKDAYS[day.weekday()], len(slots),
                               sum(slot.capacity for slot in slots), spec.holidays.get(day),
                               spec.weight_on(day), day in spec.weight_overrides))
        day += dt.timedelta(days=1)
    stored = {slot.start.astimezone(dt.UTC): slot for slot in current}
    created = updated = 0
    affected: list[AffectedSlot] = []
    for slot in wanted:
        existing = stored.pop(slot.start.astimezone(dt.UTC), None)
        if existing is None:
            created += 1
            continue
        if (existing.end.astimezone(dt.UTC), existing.capacity, existing.holiday) != (
                slot.end.astimezone(dt.UTC), slot.capacity, slot.holiday):
            updated += 1
        if existing.booked > slot.capacity:
            affected.append(AffectedSlot(existing.id, slot.start, slot.end, existing.booked,
                                         slot.capacity, must_move=False))
    removed = 0
    for existing in stored.values():
        if not existing.referenced:
            removed += 1
        elif existing.booked:
            affected.append(AffectedSlot(existing.id, existing.start.astimezone(zone),
                                         existing.end.astimezone(zone), existing.booked, 0,
                                         must_move=True))
    affected.sort(key=lambda slot: slot.start)
    assignable = None if hours is None else sum(
        slot.capacity for slot in within_hours(wanted, hours))
    return CalendarPreview(days, len(wanted), sum(slot.capacity for slot in wanted), created,
                           updated, removed, affected, assignable)


# --- Reading and writing ----------------------------------------------------------


def wanted_slots(spec: CalendarSpec, rule: CapacityRule, now: dt.datetime) -> list[SlotSpec]:
    """The future slots a calendar gives under its planned capacity (what regenerate keeps)."""
    return [slot for slot in generate_slots(spec, rule.max_active, rule.booked_share,
                                            rule.expected_session_minutes) if slot.start >= now]


def current_slots(session: Session, room: str, now: dt.datetime) -> list[CurrentSlot]:
    """The room's stored future slots, each marked when a booking (any status) names it."""
    referenced = set(session.scalars(
        select(Booking.slot_id).join(Slot, Slot.id == Booking.slot_id)
        .where(Slot.room == room, Slot.start >= now).distinct()))
    rows = session.execute(
        select(Slot.id, Slot.start, Slot.end, Slot.capacity, Slot.holiday, Slot.booked)
        .where(Slot.room == room, Slot.start >= now).order_by(Slot.start))
    return [CurrentSlot(row.id, row.start, row.end, row.capacity, row.holiday, row.booked,
                        row.id in referenced) for row in rows]


def with_codes(session: Session, affected: list[AffectedSlot]) -> list[AffectedSlot]:
    """Attach the codes of the active bookings held in each affected slot."""
    if not affected:
        return affected
    codes: dict[int, list[str]] = {}
    ids = [slot.slot_id for slot in affected]
    for offset in range(0, len(ids), 1000):
        for slot_id, code in session.execute(
                select(Booking.slot_id, Booking.code)
                .where(Booking.slot_id.in_(ids[offset:offset + 1000]),
                       Booking.status == "active")
                .order_by(Booking.code)):
            codes.setdefault(slot_id, []).append(code)
    return [AffectedSlot(slot.slot_id, slot.start, slot.end, slot.booked, slot.capacity,
                         slot.must_move, tuple(codes.get(slot.slot_id, [])[:SHOWN_CODES]))
            for slot in affected]


def _preview(request: Request, form: CalendarForm, now: dt.datetime) -> dict[str, Any]:
    state = state_of(request)
    settings = state.settings
    spec = form.spec(settings.timezone)
    with state.db() as session:
        preview = preview_calendar(spec, wanted_slots(spec, form.capacity, now),
                                   current_slots(session, settings.room, now), form.assignment)
        preview = replace(preview, affected=with_codes(session, preview.affected))
        registrants = int(session.scalar(
            select(func.count()).select_from(Registrant).where(Registrant.on_roster)) or 0)
        active = int(session.scalar(
            select(func.count()).select_from(Booking).join(Slot, Slot.id == Booking.slot_id)
            .where(Slot.room == settings.room, Booking.status == "active")) or 0)
        session.rollback()  # a preview writes nothing
    return {"preview": preview, "registrants": registrants, "active_bookings": active}


def audit_values(row: CalendarSettings | None) -> dict[str, Any]:
    """The calendar fields of saved settings as the audit log keeps them."""
    if row is None:
        return {}
    return {"window_start": row.window_start.isoformat(), "window_end": row.window_end.isoformat(),
            "timezone": row.timezone, "slot_minutes": row.slot_minutes,
            "working_plan": row.working_plan, "holiday_weight": row.holiday_weight,
            "extra_holidays": dict(row.extra_holidays),
            "removed_holidays": list(row.removed_holidays),
            "min_notice_minutes": row.min_notice_minutes,
            "weight_overrides": dict(row.weight_overrides or {}),
            "planned_max_active": row.planned_max_active,
            "planned_booked_share": row.planned_booked_share,
            "planned_session_minutes": row.planned_session_minutes,
            "assign_start": row.assign_start, "assign_end": row.assign_end}


def _apply(request: Request, actor: Actor, form: CalendarForm,
           now: dt.datetime) -> SlotChanges:
    state = state_of(request)
    settings = state.settings
    start, end = form.window(settings.tz)
    with state.db() as session:
        before = audit_values(get_calendar(session, settings.room))
        row = save_calendar(
            session, settings.room, window_start=start, window_end=end,
            timezone=settings.timezone, slot_minutes=form.slot_minutes, plan=form.plan,
            holiday_weight=form.holiday_weight, extra_holidays=form.extra_holidays,
            removed_holidays=form.removed_holidays, min_notice_minutes=form.min_notice_minutes,
            weight_overrides=form.weight_overrides, capacity=form.capacity,
            assignment_hours=form.assignment)
        changes = regenerate_slots(session, settings.room, now)
        audit.record(session, actor.name, "calendar.update", target=settings.room,
                     before=before or None, after=audit_values(row), user_id=actor.user_id)
        session.commit()
    return changes


def _saved(request: Request) -> CalendarForm:
    state = state_of(request)
    settings = state.settings
    with state.db() as session:
        row = get_calendar(session, settings.room)
        return saved_form(row, settings.tz, dt.datetime.now(settings.tz).date(),
                          start_up_capacity(settings.room_defaults))


# --- Pages ------------------------------------------------------------------------


def _context(request: Request, values: dict[str, Any], errors: dict[str, Message],
             years: range, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "values": values, "errors": errors, "weekdays": WEEKDAYS,
        "timezone": state_of(request).settings.timezone,
        "package_holidays": package_holidays(years),
        "removed": set(values.get("removed_holidays", ())),
        "preview": None, "applied": None, "live_cap": None,
    }
    context.update(extra)
    return context


def _years(form: CalendarForm) -> range:
    return range(form.first_day.year, form.last_day.year + 1)


async def _lower_live_cap(request: Request, form: CalendarForm) -> int | None:
    """The live cap when it is below the calendar's planned one (slots keep the planned one)."""
    try:
        live = (await state_of(request).room.config(max_age=0)).max_active
    except Exception as exc:  # Redis away: the calendar needs no live figure, so no warning
        log.warning("live cap unavailable for the calendar page: %s", type(exc).__name__)
        return None
    return live if live < form.capacity.max_active else None


@page("admin")
async def calendar_page(request: Request) -> Response:
    form = await run_in_threadpool(_saved, request)
    return admin_render(request, "admin/calendar.html",
                        _context(request, form_values(form), {}, _years(form),
                                 live_cap=await _lower_live_cap(request, form)))


@page("admin")
async def post_calendar(request: Request) -> Response:
    posted = await checked_form(request)
    removed = [value for value in (await request.form()).getlist("hapus")
               if isinstance(value, str)]
    form, errors = parse_calendar_form(posted, removed)
    if form is None:
        saved = await run_in_threadpool(_saved, request)
        shown: dict[str, Any] = {k: v for k, v in posted.items()
                                 if k not in ("csrf_token", "action")}
        shown["removed_holidays"] = removed
        return admin_render(request, "admin/calendar.html",
                            _context(request, shown, errors, _years(saved)), status=422)
    # Slots are sized by the planned cap on the form; the live one is only compared.
    live_cap = await _lower_live_cap(request, form)
    now = dt.datetime.now(dt.UTC)
    values = form_values(form)
    if posted.get("action") == "terapkan":
        changes = await run_in_threadpool(_apply, request, actor_of(request), form, now)
        return admin_render(request, "admin/calendar.html",
                            _context(request, values, {}, _years(form), applied=changes,
                                     live_cap=live_cap))
    preview = await run_in_threadpool(_preview, request, form, now)
    return admin_render(request, "admin/calendar.html",
                        _context(request, values, {}, _years(form), live_cap=live_cap,
                                 **preview))


routes = [
    Route("/admin/kalender", calendar_page, methods=["GET"]),
    Route("/admin/kalender", post_calendar, methods=["POST"]),
]
