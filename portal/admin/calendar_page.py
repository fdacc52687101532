"""The calendar editor: window, working plan and holidays, previewed before they are applied."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.admin import audit
from portal.admin.access import actor_of, admin_render, page
from portal.admin.auth import Actor
from portal.forms import N_
from portal.queueing import room_of
from portal.web import checked_form
from scheduler.calendar import (
    MIDNIGHT,
    CalendarSpec,
    Interval,
    SlotSpec,
    WorkingPlan,
    generate_slots,
    holiday_calendar,
)
from scheduler.models import Booking, CalendarSettings, Registrant, Slot
from scheduler.store import (
    DEFAULT_MIN_NOTICE_MINUTES,
    CapacityRule,
    SlotChanges,
    get_calendar,
    plan_from_json,
    regenerate_slots,
    save_calendar,
)
from waitroom.config import RoomConfig

# A message id and its arguments: translated in the template, then formatted.
Message = tuple[str, dict[str, Any]]

WEEKDAYS = (N_("Senin"), N_("Selasa"), N_("Rabu"), N_("Kamis"), N_("Jumat"), N_("Sabtu"),
            N_("Minggu"))
MAX_WINDOW_DAYS = 366
MAX_NOTICE_MINUTES = 7 * 24 * 60
SHOWN_CODES = 20  # booking codes listed per affected slot; the count says the rest
BAD_DATE = N_("Isi dengan tanggal yang benar (TTTT-BB-HH).")
END_BEFORE_START = N_("Tanggal selesai tidak boleh sebelum tanggal mulai.")
WINDOW_TOO_LONG = N_("Jendela pendaftaran paling panjang 366 hari.")
NOT_WHOLE = N_("Isi dengan bilangan bulat.")
NOT_A_NUMBER = N_("Isi dengan angka.")
SLOT_RANGE = N_("Panjang slot harus antara 5 dan 240 menit.")
SLOT_DOES_NOT_DIVIDE = N_(
    "Slot %(minutes)s menit tidak membagi rata jam buka %(day)s %(interval)s.")
BAD_RANGE = N_("Tulis jam buka seperti 08:00-12:00; beberapa rentang dipisah koma.")
EMPTY_RANGE = N_("Rentang %(interval)s: jam selesai harus sesudah jam mulai.")
OVERLAP = N_("Rentang %(interval)s tumpang tindih dengan rentang lain.")
WEIGHT_RANGE = N_("Bobot hari libur harus antara 0 dan 10.")
NOTICE_RANGE = N_("Pemberitahuan minimal harus antara 0 dan 10080 menit.")
BAD_EXTRA = N_("Baris %(line)s: tulis tanggal lalu nama libur, mis. 2025-06-03 Libur daerah.")
BAD_REMOVED = N_("Tanggal libur yang dihapus tidak valid.")

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


# --- Form values (pure) -----------------------------------------------------------


@dataclass(frozen=True)
class CalendarForm:
    """The editor's values once validated; the window's last day is included."""

    first_day: dt.date
    last_day: dt.date
    slot_minutes: int
    plan: WorkingPlan
    holiday_weight: float
    extra_holidays: dict[dt.date, str]
    removed_holidays: frozenset[dt.date]
    min_notice_minutes: int

    def window(self, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """Local midnight of the first day and of the day after the last."""
        start = dt.datetime.combine(self.first_day, MIDNIGHT, tzinfo=zone)
        end = dt.datetime.combine(self.last_day + dt.timedelta(days=1), MIDNIGHT, tzinfo=zone)
        return start, end

    def spec(self, timezone: str) -> CalendarSpec:
        """The pure calendar these values describe, holidays of the window's years included."""
        start, end = self.window(ZoneInfo(timezone))
        found = holiday_calendar(range(self.first_day.year, self.last_day.year + 1),
                                 self.extra_holidays, self.removed_holidays)
        return CalendarSpec(start, end, timezone, self.plan, self.slot_minutes, found,
                            self.holiday_weight)


def format_intervals(intervals: tuple[Interval, ...]) -> str:
    """Opening intervals as the form shows them: ``08:00-12:00, 13:00-16:00`` (24:00 = midnight)."""
    return ", ".join(
        f"{start:%H:%M}-{'24:00' if end == MIDNIGHT else f'{end:%H:%M}'}"
        for start, end in intervals)


def parse_intervals(raw: str) -> tuple[tuple[Interval, ...], Message | None]:
    """Parse ``HH:MM-HH:MM, ...`` (empty = closed) into sorted intervals, or an error."""
    intervals: list[Interval] = []
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        found = _RANGE.match(part)
        if found is None:
            return (), (BAD_RANGE, {})
        hour1, minute1, hour2, minute2 = (int(group) for group in found.groups())
        if hour2 == 24 and minute2 == 0:
            hour2 = 0
        if hour1 > 23 or hour2 > 23 or minute1 > 59 or minute2 > 59:
            return (), (BAD_RANGE, {})
        start, end = dt.time(hour1, minute1), dt.time(hour2, minute2)
        if end != MIDNIGHT and end <= start:
            return (), (EMPTY_RANGE, {"interval": part})
        intervals.append((start, end))
    intervals.sort()
    for (_, previous_end), (start, end) in zip(intervals, intervals[1:], strict=False):
        if previous_end == MIDNIGHT or start < previous_end:
            return (), (OVERLAP, {"interval": format_intervals(((start, end),))})
    return tuple(intervals), None


def _minutes(interval: Interval) -> int:
    start, end = interval
    end_minute = 24 * 60 if end == MIDNIGHT else end.hour * 60 + end.minute
    return end_minute - (start.hour * 60 + start.minute)


def parse_extra_holidays(raw: str) -> tuple[dict[dt.date, str], Message | None]:
    """Parse one ``YYYY-MM-DD Name`` per line into extra holidays, or an error naming the line."""
    extra: dict[dt.date, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        day_text, _, name = line.partition(" ")
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            return {}, (BAD_EXTRA, {"line": number})
        if not name.strip():
            return {}, (BAD_EXTRA, {"line": number})
        extra[day] = name.strip()[:200]
    return extra, None


def parse_calendar_form(form: dict[str, str], removed: list[str]) -> tuple[
    CalendarForm | None, dict[str, Message]
]:
    """Validate the posted editor; return the values or a message per field."""
    errors: dict[str, Message] = {}
    days: dict[str, dt.date] = {}
    for name in ("first_day", "last_day"):
        try:
            days[name] = dt.date.fromisoformat(form.get(name, "").strip())
        except ValueError:
            errors[name] = (BAD_DATE, {})
    if len(days) == 2:
        if days["last_day"] < days["first_day"]:
            errors["last_day"] = (END_BEFORE_START, {})
        elif (days["last_day"] - days["first_day"]).days >= MAX_WINDOW_DAYS:
            errors["last_day"] = (WINDOW_TOO_LONG, {})
    plan_days: list[tuple[Interval, ...]] = []
    for weekday in range(7):
        intervals, problem = parse_intervals(form.get(f"plan_{weekday}", ""))
        if problem is not None:
            errors[f"plan_{weekday}"] = problem
        plan_days.append(intervals)
    slot_minutes = 0
    try:
        slot_minutes = int(form.get("slot_minutes", "").strip())
    except ValueError:
        errors["slot_minutes"] = (NOT_WHOLE, {})
    else:
        if not 5 <= slot_minutes <= 240:
            errors["slot_minutes"] = (SLOT_RANGE, {})
        else:
            uneven = _uneven_interval(plan_days, slot_minutes)
            if uneven is not None:
                errors["slot_minutes"] = uneven
    weight = 0.0
    try:
        weight = float(form.get("holiday_weight", "").strip().replace(",", "."))
    except ValueError:
        errors["holiday_weight"] = (NOT_A_NUMBER, {})
    else:
        if not 0 <= weight <= 10:
            errors["holiday_weight"] = (WEIGHT_RANGE, {})
    notice = 0
    try:
        notice = int(form.get("min_notice_minutes", "").strip())
    except ValueError:
        errors["min_notice_minutes"] = (NOT_WHOLE, {})
    else:
        if not 0 <= notice <= MAX_NOTICE_MINUTES:
            errors["min_notice_minutes"] = (NOTICE_RANGE, {})
    extra, problem = parse_extra_holidays(form.get("extra_holidays", ""))
    if problem is not None:
        errors["extra_holidays"] = problem
    try:
        removed_days = frozenset(dt.date.fromisoformat(day) for day in removed)
    except ValueError:
        errors["removed_holidays"] = (BAD_REMOVED, {})
    if errors:
        return None, errors
    return CalendarForm(days["first_day"], days["last_day"], slot_minutes,
                        WorkingPlan(tuple(plan_days)), weight, extra, removed_days, notice), {}


def _uneven_interval(plan_days: list[tuple[Interval, ...]], slot_minutes: int) -> Message | None:
    # The generator drops a slot that does not fit whole: refuse a plan that would lose time.
    for weekday, intervals in enumerate(plan_days):
        for interval in intervals:
            if _minutes(interval) % slot_minutes:
                return (SLOT_DOES_NOT_DIVIDE, {"minutes": slot_minutes, "day": WEEKDAYS[weekday],
                                               "interval": format_intervals((interval,))})
    return None


def form_values(form: CalendarForm) -> dict[str, Any]:
    """The editor's input values for validated settings."""
    values: dict[str, Any] = {
        "first_day": form.first_day.isoformat(), "last_day": form.last_day.isoformat(),
        "slot_minutes": form.slot_minutes, "holiday_weight": form.holiday_weight,
        "min_notice_minutes": form.min_notice_minutes,
        "extra_holidays": "\n".join(f"{day.isoformat()} {name}"
                                    for day, name in sorted(form.extra_holidays.items())),
        "removed_holidays": sorted(day.isoformat() for day in form.removed_holidays),
    }
    for weekday in range(7):
        values[f"plan_{weekday}"] = format_intervals(form.plan.intervals_on(weekday))
    return values


def saved_form(row: CalendarSettings | None, zone: ZoneInfo, today: dt.date) -> CalendarForm:
    """The editor's values for saved settings, or the defaults when none were saved."""
    if row is None:
        return CalendarForm(today, today + dt.timedelta(days=14), 30, WorkingPlan(), 1.5, {},
                            frozenset(), DEFAULT_MIN_NOTICE_MINUTES)
    last = (row.window_end.astimezone(zone) - dt.timedelta(microseconds=1)).date()
    first = row.window_start.astimezone(zone).date()
    return CalendarForm(
        first, max(first, last), row.slot_minutes, plan_from_json(row.working_plan),
        row.holiday_weight,
        {dt.date.fromisoformat(day): name for day, name in row.extra_holidays.items()},
        frozenset(dt.date.fromisoformat(day) for day in row.removed_holidays),
        row.min_notice_minutes)


@dataclass(frozen=True, slots=True)
class PackageHoliday:
    """A holiday as the holidays package gives it."""

    day: dt.date
    name: str
    cuti_bersama: bool


def package_holidays(years: range) -> list[PackageHoliday]:
    """Indonesian public holidays and cuti bersama of the years, cuti bersama marked."""
    public = holidays.country_holidays("ID", years=list(years), categories=("public",),
                                       language="id")
    collective = holidays.country_holidays("ID", years=list(years), categories=("government",),
                                           language="id")
    found = {day: PackageHoliday(day, str(name), False) for day, name in public.items()}
    for day, name in collective.items():
        found.setdefault(day, PackageHoliday(day, str(name), True))
    return [found[day] for day in sorted(found)]


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

    @property
    def must_move(self) -> int:
        """How many bookings sit in slots that would disappear."""
        return sum(slot.booked for slot in self.affected if slot.must_move)

    @property
    def over_capacity(self) -> int:
        """How many bookings exceed the places of slots that stay."""
        return sum(slot.booked - slot.capacity for slot in self.affected if not slot.must_move)


def preview_calendar(spec: CalendarSpec, wanted: list[SlotSpec],
                     current: list[CurrentSlot]) -> CalendarPreview:
    """Compare the slots a calendar would give with the stored future ones (as regenerate does)."""
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
                               spec.weight_on(day)))
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
    return CalendarPreview(days, len(wanted), sum(slot.capacity for slot in wanted), created,
                           updated, removed, affected)


# --- Reading and writing ----------------------------------------------------------


def capacity_rule(config: RoomConfig) -> CapacityRule:
    """The live room numbers that size the slots."""
    return CapacityRule(config.max_active, config.booked_share, config.expected_session_minutes)


def wanted_slots(spec: CalendarSpec, rule: CapacityRule, now: dt.datetime) -> list[SlotSpec]:
    """The future slots a calendar gives under a capacity rule (what regenerate_slots keeps)."""
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


def _preview(request: Request, form: CalendarForm, rule: CapacityRule,
             now: dt.datetime) -> dict[str, Any]:
    settings = request.app.state.settings
    spec = form.spec(settings.timezone)
    with request.app.state.db() as session:
        preview = preview_calendar(spec, wanted_slots(spec, rule, now),
                                   current_slots(session, settings.room, now))
        preview = replace(preview, affected=with_codes(session, preview.affected))
        registrants = int(session.scalar(select(func.count()).select_from(Registrant)) or 0)
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
            "min_notice_minutes": row.min_notice_minutes}


def _apply(request: Request, actor: Actor, form: CalendarForm, rule: CapacityRule,
           now: dt.datetime) -> SlotChanges:
    settings = request.app.state.settings
    start, end = form.window(settings.tz)
    with request.app.state.db() as session:
        before = audit_values(get_calendar(session, settings.room))
        row = save_calendar(
            session, settings.room, window_start=start, window_end=end,
            timezone=settings.timezone, slot_minutes=form.slot_minutes, plan=form.plan,
            holiday_weight=form.holiday_weight, extra_holidays=form.extra_holidays,
            removed_holidays=form.removed_holidays, min_notice_minutes=form.min_notice_minutes)
        changes = regenerate_slots(session, settings.room, rule, now)
        audit.record(session, actor.name, "calendar.update", target=settings.room,
                     before=before or None, after=audit_values(row), user_id=actor.user_id)
        session.commit()
    return changes


def _saved(request: Request) -> CalendarForm:
    settings = request.app.state.settings
    with request.app.state.db() as session:
        row = get_calendar(session, settings.room)
        return saved_form(row, settings.tz, dt.datetime.now(settings.tz).date())


# --- Pages ------------------------------------------------------------------------


def _context(request: Request, values: dict[str, Any], errors: dict[str, Message],
             years: range, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "values": values, "errors": errors, "weekdays": WEEKDAYS,
        "timezone": request.app.state.settings.timezone,
        "package_holidays": package_holidays(years),
        "removed": set(values.get("removed_holidays", ())),
        "preview": None, "applied": None,
    }
    context.update(extra)
    return context


def _years(form: CalendarForm) -> range:
    return range(form.first_day.year, form.last_day.year + 1)


@page("admin")
async def calendar_page(request: Request) -> Response:
    form = await run_in_threadpool(_saved, request)
    return admin_render(request, "admin/calendar.html",
                        _context(request, form_values(form), {}, _years(form)))


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
    rule = capacity_rule(await room_of(request).config(max_age=0))
    now = dt.datetime.now(dt.UTC)
    values = form_values(form)
    if posted.get("action") == "terapkan":
        changes = await run_in_threadpool(_apply, request, actor_of(request), form, rule, now)
        return admin_render(request, "admin/calendar.html",
                            _context(request, values, {}, _years(form), applied=changes))
    preview = await run_in_threadpool(_preview, request, form, rule, now)
    return admin_render(request, "admin/calendar.html",
                        _context(request, values, {}, _years(form), **preview))


routes = [
    Route("/admin/kalender", calendar_page, methods=["GET"]),
    Route("/admin/kalender", post_calendar, methods=["POST"]),
]
