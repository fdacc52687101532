"""``antrean roster``, ``schedule`` and ``calendar``: the scheduler from a terminal."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portal.settings import Settings, SettingsError

REASON_LABELS = {
    "nik_length": "NIK bukan 16 digit",
    "nik_letters": "NIK berisi huruf",
    "nik_bad_date": "tanggal lahir pada NIK tidak sah",
    "nik_bad_region": "kode wilayah NIK tidak dikenal",
    "nik_duplicate": "NIK ganda",
    "phone_invalid": "nomor telepon tidak valid",
    "email_invalid": "e-mail tidak valid",
    "name_missing": "nama kosong",
}


def register(sub: Any) -> None:
    """Add the roster, schedule and calendar commands to the ``antrean`` parser."""
    roster = sub.add_parser("roster", help="staff roster")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True)
    importer = roster_sub.add_parser("import", help="import a CSV or XLSX roster")
    importer.add_argument("file", type=Path, help="roster file (.csv or .xlsx)")
    importer.add_argument("--report", type=Path, default=None,
                          help="where to write the bad-row report (default: next to FILE)")
    importer.set_defaults(func=cmd_roster_import)

    schedule = sub.add_parser("schedule", help="slot scheduling")
    schedule_sub = schedule.add_subparsers(dest="schedule_command", required=True)
    assign = schedule_sub.add_parser("assign", help="give everyone unbooked on the roster a slot")
    # Whether people hear of the slot they were given is the operator's explicit choice:
    # a booking nobody was told of gets no reminders either.
    telling = assign.add_mutually_exclusive_group(required=True)
    telling.add_argument("--notify", action="store_true",
                         help="tell every newly scheduled person with a contact their slot")
    telling.add_argument("--no-notify", dest="notify", action="store_false",
                         help="tell nobody now (no reminders either, until they are told)")
    assign.set_defaults(func=cmd_schedule_assign)
    progress = schedule_sub.add_parser("progress", help="delivery of a notification batch")
    progress.add_argument("batch", help="the batch id printed by `schedule assign --notify`")
    progress.set_defaults(func=cmd_schedule_progress)

    calendar = sub.add_parser("calendar", help="registration window and slots")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    calendar_sub.add_parser("show", help="print the window and slots per day").set_defaults(
        func=cmd_calendar_show
    )
    setter = calendar_sub.add_parser("set", help="set the window and regenerate the slots")
    setter.add_argument("--start", type=dt.date.fromisoformat, required=True,
                        help="first day (YYYY-MM-DD)")
    setter.add_argument("--end", type=dt.date.fromisoformat, required=True,
                        help="last day, inclusive (YYYY-MM-DD)")
    setter.add_argument("--hours", default="00:00-00:00",
                        help="daily opening hours, e.g. 07:00-22:00 (default: all day)")
    setter.add_argument("--slot-minutes", type=int, default=30)
    setter.add_argument("--holiday-weight", type=float, default=1.5)
    setter.add_argument("--min-notice", type=int, default=60, help="minutes")
    setter.add_argument("--weight", action="append", default=[], metavar="DATE=WEIGHT",
                        type=_day_weight,
                        help="capacity weight of one day, e.g. 2025-08-18=2 (0 closes it); "
                        "repeat for more days")
    # The planned numbers that size the slots: unset, the saved calendar's stay, and a
    # new calendar starts from the start-up settings (never the live, maybe emergency, cap).
    setter.add_argument("--planned-cap", type=_planned_cap, default=None, metavar="N",
                        help="planned cap on people holding the form at once, which sizes the "
                        "slots (default: the saved calendar's, else ANTREAN_MAX_ACTIVE)")
    setter.add_argument("--booked-share", type=_share, default=None, metavar="X",
                        help="planned share of the cap kept for booked visitors, over 0 up to 1 "
                        "(default: the saved calendar's, else 0.3)")
    setter.add_argument("--session-minutes", type=_session_minutes, default=None, metavar="M",
                        help="planned average form session in minutes "
                        "(default: the saved calendar's, else 20)")
    setter.add_argument("--assign-hours", type=_assign_hours, default=None,
                        metavar="HH:MM-HH:MM",
                        help="local hours bulk assignment and offers keep to, e.g. 07:00-21:00 "
                        "(default: the saved calendar's, else 07:00-21:00); people may still "
                        "book any open slot themselves")
    setter.set_defaults(func=cmd_calendar_set)


def _day_weight(text: str) -> tuple[dt.date, float]:
    """Read ``YYYY-MM-DD=WEIGHT`` as argparse's ``type``: a date and a weight from 0 to 10."""
    from scheduler.calendar import MAX_WEIGHT

    day_text, separator, weight_text = text.partition("=")
    try:
        day, weight = dt.date.fromisoformat(day_text.strip()), float(weight_text.replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"tulis tanggal=bobot, mis. 2025-08-18=2 (bukan {text!r})") from None
    if not separator or not 0 <= weight <= MAX_WEIGHT:
        raise argparse.ArgumentTypeError(f"bobot {text!r} harus antara 0 dan {MAX_WEIGHT:g}")
    return day, weight


def _planned_cap(text: str) -> int:
    """Read the planned cap as argparse's ``type``: a whole number from 1 to 100000."""
    from portal.admin.calendar_form import MAX_PLANNED_CAP

    try:
        cap = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tulis bilangan bulat (bukan {text!r})") from None
    if not 1 <= cap <= MAX_PLANNED_CAP:
        raise argparse.ArgumentTypeError(f"kapasitas rencana harus antara 1 dan "
                                         f"{MAX_PLANNED_CAP} (bukan {cap})")
    return cap


def _share(text: str) -> float:
    """Read the planned booked share: over 0, at most 1."""
    try:
        share = float(text.replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"tulis angka (bukan {text!r})") from None
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"porsi pemesan harus lebih dari 0 dan paling besar 1 "
                                         f"(bukan {text})")
    return share


def _session_minutes(text: str) -> float:
    """Read the planned session length: over 0, at most 240 minutes."""
    from portal.admin.calendar_form import MAX_SESSION_MINUTES

    try:
        minutes = float(text.replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"tulis angka (bukan {text!r})") from None
    if not 0 < minutes <= MAX_SESSION_MINUTES:
        raise argparse.ArgumentTypeError(f"lama sesi harus lebih dari 0 dan paling lama "
                                         f"{MAX_SESSION_MINUTES} menit (bukan {text})")
    return minutes


def _assign_hours(text: str) -> Any:
    """Read ``HH:MM-HH:MM`` (24:00 is midnight), the start before the end."""
    from scheduler.calendar import DailyHours

    try:
        return DailyHours.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"tulis jam penjadwalan seperti 07:00-21:00, jam selesai sesudah jam mulai "
            f"(bukan {text!r})") from None


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"antrean: {exc}")


_ENGINES: list[Any] = []


def _sessions(settings: Settings) -> Any:
    from portal.db import create_db_engine, session_factory

    engine = create_db_engine(settings.database_url, settings.database)
    _ENGINES.append(engine)
    return session_factory(engine)


def dispose_engines() -> None:
    """Close the database connections the commands opened (called when a command ends)."""
    while _ENGINES:
        _ENGINES.pop().dispose()


def _progress(label: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\r{label}: {done:,}/{total:,}".replace(",", "."), end=end, flush=True)

    return show


def cmd_roster_import(args: argparse.Namespace) -> int:
    """Import a roster file; print counts and write the bad-row report."""
    from scheduler.roster import RosterFormatError, parse_roster
    from scheduler.store import import_registrants

    settings = _settings()
    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        sys.exit(f"antrean: tidak dapat membaca {path}: {exc.strerror}")
    print(f"Membaca {path.name} ...", flush=True)
    try:
        # A file on the server: no upload limits (a national roster has millions of rows).
        report = parse_roster(data, path.name, dt.datetime.now(settings.tz).date(),
                              bounded=False)
    except RosterFormatError as exc:
        sys.exit(f"antrean: {exc}")
    print(f"{report.total_rows} baris: {len(report.rows)} sah, {len(report.bad_rows)} ditolak")
    sessions = _sessions(settings)
    with sessions() as session, session.begin():
        counts = import_registrants(session, report, progress=_progress("Menyimpan"))
    print(f"Baru: {counts.inserted}, diperbarui: {counts.updated}, tetap: {counts.unchanged}")
    if report.bad_rows:
        for reason, count in sorted(report.counts_by_reason().items(), key=lambda kv: -kv[1]):
            print(f"  {count:6d}  {REASON_LABELS.get(reason, reason)} ({reason})")
        target = args.report or path.with_name(f"{path.stem}-baris-ditolak.csv")
        target.write_text(report.bad_rows_csv(), encoding="utf-8")
        print(f"Laporan baris ditolak: {target}")
    return 0


def cmd_schedule_assign(args: argparse.Namespace) -> int:
    """Regenerate the slots, then book every unbooked registrant; print the shortfall.

    Slots are sized by the calendar's planned cap and people go only into slots
    within its assignment hours: the live cap, maybe lowered for an incident,
    plays no part.
    """
    from scheduler.assign import assign_unbooked
    from scheduler.store import assignment_hours_of, get_calendar, regenerate_slots

    settings = _settings()
    sessions = _sessions(settings)
    now = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    labels = {"read": "Membaca pendaftar", "insert": "Menyimpan pemesanan", "done": "Selesai"}

    def show(stage: str, done: int, total: int) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {labels.get(stage, stage)}: "
              f"{done:,}/{total:,}".replace(",", "."), flush=True)

    with sessions() as session, session.begin():
        row = get_calendar(session, settings.room)
        if row is None:
            sys.exit("antrean: belum ada jendela pendaftaran; jalankan `antrean calendar set`.")
        print(f"Kapasitas rencana {row.planned_max_active} pengguna aktif; jam penjadwalan "
              f"{assignment_hours_of(row).label()}")
        changes = regenerate_slots(session, settings.room, now)
        print(f"Slot: {changes.created} baru, {changes.updated} diubah, {changes.removed} dihapus")
        if changes.over_capacity:
            print(f"PERHATIAN: {changes.over_capacity} slot melebihi kapasitas.")
        result = assign_unbooked(session, settings.room, now, progress=show)
    print(f"{result.assigned} dari {result.registrants} pendaftar mendapat jadwal "
          f"({time.monotonic() - started:.1f} s).")
    if args.notify and result.assigned:
        batch_id, queued = _notify_assigned(settings, sessions, now)
        print(f"Pemberitahuan jadwal: {queued:,} pesan diantrekan (batch {batch_id}); "
              f"pantau dengan `antrean schedule progress {batch_id}`.".replace(",", "."))
    if result.shortfall is not None:
        short = result.shortfall
        print(f"KURANG {short.places} tempat.")
        if short.suggested_last_day is not None:
            print(f"  Perpanjang jendela {short.extra_days} hari, sampai "
                  f"{short.suggested_last_day.isoformat()}, atau")
        if short.required_max_active is not None:
            print(f"  naikkan kapasitas rencana menjadi {short.required_max_active} "
                  "(antrean calendar set --planned-cap), atau")
        print("  perlebar jam penjadwalan (antrean calendar set --assign-hours).")
        return 2
    return 0


def _notify_assigned(settings: Settings, sessions: Any, since: dt.datetime) -> tuple[str, int]:
    """Queue a slot message for every booking the scheduler made since ``since``."""
    from rq import Queue

    from portal.notify.events import announce_assigned
    from portal.redis_clients import open_job_connection
    from portal.state import JOB_QUEUE

    assert settings.job_url is not None, "needs ANTREAN_REDIS_URL"
    queue = Queue(JOB_QUEUE, connection=open_job_connection(settings.job_url))
    batch_id = f"roster-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"

    def show(queued: int) -> None:
        print(f"  {queued:,} pesan diantrekan".replace(",", "."), flush=True)

    return batch_id, announce_assigned(sessions, queue, settings.notify, since, batch_id,
                                       progress=show)


def cmd_schedule_progress(args: argparse.Namespace) -> int:
    """Print how far a notification batch has got."""
    from portal.notify.records import batch_progress

    sessions = _sessions(_settings())
    with sessions() as session:
        progress = batch_progress(session, args.batch)
    print(f"antre {progress.queued}, dikirim {progress.sending}, terkirim {progress.sent}, "
          f"gagal {progress.failed}")
    return 0


def cmd_calendar_show(args: argparse.Namespace) -> int:
    """Print the registration window and, per day, slots, places and bookings."""
    from scheduler.store import assignment_hours_of, get_calendar, list_slots

    settings = _settings()
    sessions = _sessions(settings)
    with sessions() as session:
        row = get_calendar(session, settings.room)
        if row is None:
            print("Belum ada jendela pendaftaran (antrean calendar set).")
            return 1
        zone = settings.tz
        print(f"Ruang {row.room}: {row.window_start.astimezone(zone):%Y-%m-%d %H:%M} s.d. "
              f"{row.window_end.astimezone(zone):%Y-%m-%d %H:%M} ({row.timezone})")
        print(f"Slot {row.slot_minutes} menit, bobot hari libur {row.holiday_weight}, "
              f"pemberitahuan minimal {row.min_notice_minutes} menit")
        print(f"Kapasitas rencana: {row.planned_max_active} pengguna aktif, porsi pemesan "
              f"{row.planned_booked_share:g}, sesi {row.planned_session_minutes:g} menit; "
              f"jam penjadwalan {assignment_hours_of(row).label()}")
        if row.weight_overrides:
            print("Bobot per tanggal: " + ", ".join(
                f"{day} = {weight:g}" for day, weight in sorted(row.weight_overrides.items())))
        days: dict[dt.date, list[int]] = {}
        holidays: dict[dt.date, str] = {}
        for slot in list_slots(session, settings.room):
            figures = days.setdefault(slot.day, [0, 0, 0, 0])
            figures[0] += 1
            figures[1] += slot.capacity
            figures[2] += slot.booked
            figures[3] += int(slot.over_capacity)
            if slot.holiday:
                holidays[slot.day] = slot.holiday
    print(f"{'tanggal':<16}{'slot':>6}{'kapasitas':>11}{'dipesan':>9}{'lebih':>7}  libur")
    for day, (count, capacity, booked, over) in sorted(days.items()):
        print(f"{day:%a %Y-%m-%d} {count:>5}{capacity:>11}{booked:>9}{over:>7}  "
              f"{holidays.get(day, '')}")
    return 0


def cmd_calendar_set(args: argparse.Namespace) -> int:
    """Save the window (every day open in the given hours) and regenerate the slots."""
    from portal.admin.calendar_form import start_up_capacity
    from scheduler.calendar import WorkingPlan
    from scheduler.store import (
        CapacityRule,
        assignment_hours_of,
        capacity_of,
        get_calendar,
        regenerate_slots,
        save_calendar,
    )

    settings = _settings()
    try:
        opens, closes = (dt.time.fromisoformat(part) for part in args.hours.split("-"))
        plan = WorkingPlan(tuple(((opens, closes),) for _ in range(7)))
    except ValueError as exc:
        sys.exit(f"antrean: --hours harus seperti 07:00-22:00 ({exc})")
    weights = dict(args.weight)
    outside = sorted(day for day in weights if not args.start <= day <= args.end)
    if outside:
        sys.exit(f"antrean: --weight {outside[0]} di luar jendela {args.start} s.d. {args.end}")
    zone = settings.tz
    start = dt.datetime.combine(args.start, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(args.end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    sessions = _sessions(settings)
    try:
        with sessions() as session, session.begin():
            saved = get_calendar(session, settings.room)
            planned = capacity_of(saved) if saved is not None else start_up_capacity(
                settings.room_defaults)
            capacity = CapacityRule(
                planned.max_active if args.planned_cap is None else args.planned_cap,
                planned.booked_share if args.booked_share is None else args.booked_share,
                planned.expected_session_minutes if args.session_minutes is None
                else args.session_minutes)
            hours = args.assign_hours or assignment_hours_of(saved)
            save_calendar(session, settings.room, window_start=start, window_end=end,
                          timezone=settings.timezone, slot_minutes=args.slot_minutes,
                          plan=plan, holiday_weight=args.holiday_weight,
                          min_notice_minutes=args.min_notice, weight_overrides=weights,
                          capacity=capacity, assignment_hours=hours)
            changes = regenerate_slots(session, settings.room, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        sys.exit(f"antrean: {exc}")
    print(f"Kapasitas rencana {capacity.max_active} pengguna aktif; jam penjadwalan "
          f"{hours.label()}")
    print(f"Slot: {changes.created} baru, {changes.updated} diubah, {changes.removed} dihapus, "
          f"{changes.over_capacity} melebihi kapasitas")
    return 0
