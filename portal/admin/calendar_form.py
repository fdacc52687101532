"""The calendar editor's form: parsing and validating what the operator typed (pure)."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from portal.i18n import N_
from scheduler.calendar import (
    MAX_WEIGHT,
    MIDNIGHT,
    CalendarSpec,
    DailyHours,
    Interval,
    WorkingPlan,
    format_end,
    holiday_calendar,
    parse_clock,
)
from scheduler.models import CalendarSettings
from scheduler.store import (
    DEFAULT_MIN_NOTICE_MINUTES,
    CapacityRule,
    assignment_hours_of,
    capacity_of,
    plan_from_json,
    weight_overrides_of,
)
from waitroom.config import RoomConfig

# A message id and its arguments: translated in the template, then formatted.
Message = tuple[str, dict[str, Any]]

WEEKDAYS = (N_("Senin"), N_("Selasa"), N_("Rabu"), N_("Kamis"), N_("Jumat"), N_("Sabtu"),
            N_("Minggu"))
MAX_WINDOW_DAYS = 366
MAX_NOTICE_MINUTES = 7 * 24 * 60
# More people on the form at once than any agency's server has held: a typing slip.
MAX_PLANNED_CAP = 100_000
MAX_SESSION_MINUTES = 240
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
BAD_WEIGHT_LINE = N_("Baris %(line)s: tulis tanggal = bobot, mis. 2025-08-17 = 2.")
WEIGHT_BAD_DAY = N_("Baris %(line)s: %(day)s bukan tanggal yang benar (TTTT-BB-HH).")
WEIGHT_OUTSIDE = N_(
    "Baris %(line)s: %(day)s di luar jendela pendaftaran (%(first)s s.d. %(last)s).")
WEIGHT_TWICE = N_("Baris %(line)s: %(day)s sudah diberi bobot di baris sebelumnya.")
DAY_WEIGHT_RANGE = N_("Baris %(line)s: bobot harus antara 0 dan 10 (0 menutup hari itu).")
CAP_RANGE = N_("Kapasitas rencana harus antara 1 dan 100.000 pengguna aktif.")
SHARE_RANGE = N_("Porsi pemesan harus lebih dari 0 dan paling besar 1.")
SESSION_RANGE = N_("Lama sesi rata-rata harus lebih dari 0 dan paling lama 240 menit.")
BAD_CLOCK = N_("Tulis jam seperti 07:00 (24:00 untuk tengah malam).")
HOURS_REVERSED = N_("Jam selesai penjadwalan harus sesudah jam mulai.")

# "2025-08-17 = 2", "2025-08-17 1,5" or "2025-08-17: 0" (a decimal comma as Excel writes it).
_DAY_WEIGHT = re.compile(r"^(\S+?)\s*[=:\s]\s*(-?[0-9]+(?:[.,][0-9]+)?)$")
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
    weight_overrides: dict[dt.date, float] = field(default_factory=dict)
    # The planned cap that sizes the slots, and the hours bulk assignment keeps to.
    capacity: CapacityRule = field(default_factory=CapacityRule)
    assignment: DailyHours = field(default_factory=DailyHours)

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
                            self.holiday_weight, self.weight_overrides)


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
        if not 0 <= weight <= MAX_WEIGHT:
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
    window = (days["first_day"], days["last_day"]) if len(days) == 2 and not errors.get(
        "last_day") else None
    overrides, problem = parse_day_weights(form.get("weight_overrides", ""), window)
    if problem is not None:
        errors["weight_overrides"] = problem
    capacity = _parse_capacity(form, errors)
    assignment = _parse_assignment_hours(form, errors)
    if errors or capacity is None or assignment is None:
        return None, errors
    return CalendarForm(days["first_day"], days["last_day"], slot_minutes,
                        WorkingPlan(tuple(plan_days)), weight, extra, removed_days, notice,
                        overrides, capacity, assignment), {}


def _parse_capacity(form: dict[str, str], errors: dict[str, Message]) -> CapacityRule | None:
    """The planned cap, booked share and session length, or None with their errors added."""
    cap = 0
    try:
        cap = int(form.get("planned_max_active", "").strip())
    except ValueError:
        errors["planned_max_active"] = (NOT_WHOLE, {})
    else:
        if not 1 <= cap <= MAX_PLANNED_CAP:
            errors["planned_max_active"] = (CAP_RANGE, {})
    numbers: dict[str, float] = {}
    for name, message, top in (("planned_booked_share", SHARE_RANGE, 1.0),
                               ("planned_session_minutes", SESSION_RANGE,
                                float(MAX_SESSION_MINUTES))):
        try:
            value = float(form.get(name, "").strip().replace(",", "."))
        except ValueError:
            errors[name] = (NOT_A_NUMBER, {})
            continue
        # NaN and infinities fail the comparison too.
        if not 0 < value <= top:
            errors[name] = (message, {})
        numbers[name] = value
    if any(name in errors for name in ("planned_max_active", "planned_booked_share",
                                       "planned_session_minutes")):
        return None
    return CapacityRule(cap, numbers["planned_booked_share"], numbers["planned_session_minutes"])


def _parse_assignment_hours(form: dict[str, str], errors: dict[str, Message]) -> (
    DailyHours | None
):
    """The daily hours bulk assignment keeps to, or None with their errors added."""
    moments: dict[str, dt.time] = {}
    for name in ("assign_start", "assign_end"):
        try:
            moments[name] = parse_clock(form.get(name, ""), end=name == "assign_end")
        except ValueError:
            errors[name] = (BAD_CLOCK, {})
    if len(moments) < 2:
        return None
    try:
        return DailyHours(moments["assign_start"], moments["assign_end"])
    except ValueError:
        errors["assign_end"] = (HOURS_REVERSED, {})
        return None


def parse_day_weights(raw: str, window: tuple[dt.date, dt.date] | None) -> tuple[
    dict[dt.date, float], Message | None
]:
    """Parse one ``YYYY-MM-DD = weight`` per line, or an error naming the first bad line.

    ``window`` is the first and last day when they are valid: a date outside it
    is refused, since its weight would silently do nothing.
    """
    overrides: dict[dt.date, float] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        found = _DAY_WEIGHT.match(line)
        if found is None:
            return {}, (BAD_WEIGHT_LINE, {"line": number})
        day_text, weight_text = found.groups()
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            return {}, (WEIGHT_BAD_DAY, {"line": number, "day": day_text[:20]})
        if window is not None and not window[0] <= day <= window[1]:
            return {}, (WEIGHT_OUTSIDE, {"line": number, "day": day_text[:20],
                                         "first": window[0].isoformat(),
                                         "last": window[1].isoformat()})
        if day in overrides:
            return {}, (WEIGHT_TWICE, {"line": number, "day": day_text[:20]})
        weight = float(weight_text.replace(",", "."))
        if not (math.isfinite(weight) and 0 <= weight <= MAX_WEIGHT):
            return {}, (DAY_WEIGHT_RANGE, {"line": number})
        overrides[day] = weight
    return dict(sorted(overrides.items())), None


def format_day_weights(overrides: dict[dt.date, float]) -> str:
    """Per-date weights as the editor shows them, one ``YYYY-MM-DD = weight`` per line."""
    return "\n".join(f"{day.isoformat()} = {format_weight(weight)}"
                     for day, weight in sorted(overrides.items()))


def format_weight(weight: float) -> str:
    """A weight as typed: ``2`` rather than ``2.0``, ``1.5`` as is."""
    return f"{weight:g}"


def format_number(value: float) -> str:
    """A number as typed, exactly: ``20`` rather than ``20.0``, ``0.3`` as is."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


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
        "weight_overrides": format_day_weights(form.weight_overrides),
        "planned_max_active": form.capacity.max_active,
        "planned_booked_share": format_number(form.capacity.booked_share),
        "planned_session_minutes": format_number(form.capacity.expected_session_minutes),
        "assign_start": f"{form.assignment.start:%H:%M}",
        "assign_end": format_end(form.assignment.end),
    }
    for weekday in range(7):
        values[f"plan_{weekday}"] = format_intervals(form.plan.intervals_on(weekday))
    return values


def start_up_capacity(config: RoomConfig) -> CapacityRule:
    """The planned numbers a new calendar starts from: the room's settings at start-up.

    Deliberately not the live settings: those may be an incident's emergency cap.
    """
    return CapacityRule(config.max_active, config.booked_share, config.expected_session_minutes)


def saved_form(row: CalendarSettings | None, zone: ZoneInfo, today: dt.date,
               capacity: CapacityRule | None = None) -> CalendarForm:
    """The editor's values for saved settings, or the defaults when none were saved.

    ``capacity`` is the planned capacity a new calendar starts with.
    """
    if row is None:
        return CalendarForm(today, today + dt.timedelta(days=14), 30, WorkingPlan(), 1.5, {},
                            frozenset(), DEFAULT_MIN_NOTICE_MINUTES,
                            capacity=capacity or CapacityRule())
    last = (row.window_end.astimezone(zone) - dt.timedelta(microseconds=1)).date()
    first = row.window_start.astimezone(zone).date()
    return CalendarForm(
        first, max(first, last), row.slot_minutes, plan_from_json(row.working_plan),
        row.holiday_weight,
        {dt.date.fromisoformat(day): name for day, name in row.extra_holidays.items()},
        frozenset(dt.date.fromisoformat(day) for day in row.removed_holidays),
        row.min_notice_minutes, weight_overrides_of(row), capacity_of(row),
        assignment_hours_of(row))


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


