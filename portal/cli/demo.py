"""Demo data for a newcomer's first ``make run``: a live window, a scheduled roster."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from portal.admin.auth import AccountError, count_admins, create_user, generate_password
from portal.admin.calendar_form import start_up_capacity
from portal.db import create_db_engine, session_factory
from portal.settings import Settings
from scheduler.assign import assign_unbooked
from scheduler.roster import parse_roster
from scheduler.store import get_calendar, import_registrants, regenerate_slots, save_calendar

log = logging.getLogger("antrean.demo")

SAMPLE_ROSTER = Path(__file__).resolve().parent / "demo_data" / "roster-sample.csv"
DEMO_DAYS = 14
DEMO_OPERATOR = "operator"


def seed_demo(settings: Settings, now: dt.datetime | None = None) -> bool:
    """Open a two-week window from today and schedule the sample roster; once only.

    Returns True when the demo data was written now, False when it was there already.
    """
    now = now or dt.datetime.now(dt.UTC)
    engine = create_db_engine(settings.database_url, settings.database)
    try:
        with session_factory(engine)() as session, session.begin():
            if get_calendar(session, settings.room) is not None:
                return False
            today = now.astimezone(settings.tz).date()
            start = dt.datetime.combine(today, dt.time(0), tzinfo=settings.tz)
            # Open all day, as a new calendar is; the scheduler keeps the sample people
            # to the default assignment hours (07:00-21:00), not the night.
            save_calendar(session, settings.room, window_start=start,
                          window_end=start + dt.timedelta(days=DEMO_DAYS),
                          timezone=settings.timezone,
                          capacity=start_up_capacity(settings.room_defaults))
            regenerate_slots(session, settings.room, now)
            report = parse_roster(SAMPLE_ROSTER.read_bytes(), SAMPLE_ROSTER.name, today=today)
            counts = import_registrants(session, report)
            # Sample people are told nothing: their bookings stay untold, so no reminder
            # is the first word of a slot (a visitor's own booking is confirmed as usual).
            assigned = assign_unbooked(session, settings.room, now)
        log.info("demo: window of %d days from %s, %d registrants imported (%d rows refused), "
                 "%d scheduled without notices", DEMO_DAYS, today, counts.inserted,
                 len(report.bad_rows), assigned.assigned)
        return True
    finally:
        engine.dispose()


def seed_demo_operator(settings: Settings) -> str | None:
    """Create the demo admin account when demo mode is on and no admin exists.

    Returns the generated password (to be shown once, never logged), or None
    when nothing was created.
    """
    if not settings.demo:
        return None
    password = generate_password()
    engine = create_db_engine(settings.database_url, settings.database)
    try:
        with session_factory(engine)() as session, session.begin():
            if count_admins(session):
                return None
            try:
                create_user(session, DEMO_OPERATOR, "admin", password,
                            settings.admin.passwords)
            except AccountError:
                # The name is taken by a non-admin account: leave it as the operators made it.
                log.warning("demo: account %r exists without the admin role; none created",
                            DEMO_OPERATOR)
                return None
        log.info("demo: admin account %r created", DEMO_OPERATOR)
        return password
    finally:
        engine.dispose()
