"""The demo a newcomer's first ``make run`` lands on."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from portal.admin.auth import authenticate
from portal.cli.demo import seed_demo, seed_demo_operator
from portal.db import create_db_engine, session_factory
from portal.settings import Settings
from scheduler.models import Booking, Registrant, Slot


def test_demo_opens_a_window_and_schedules_the_roster(database_url: str,
                                                      tmp_path: Path) -> None:
    settings = replace(Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path)}),
                       database_url=database_url.replace("postgresql://",
                                                         "postgresql+psycopg://", 1))
    now = dt.datetime(2026, 12, 24, 3, 0, tzinfo=dt.UTC)  # Christmas Eve, a cuti bersama
    assert seed_demo(settings, now=now)
    assert not seed_demo(settings, now=now)  # once only
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        registrants = session.scalar(select(func.count()).select_from(Registrant))
        active = session.scalar(select(func.count()).select_from(Booking)
                                .where(Booking.status == "active"))
        days = session.scalars(select(Slot.day).distinct()).all()
        holidays = session.scalars(select(Slot.holiday).where(Slot.holiday.is_not(None))
                                   .distinct()).all()
        slots = session.scalars(select(Slot)).all()
    engine.dispose()
    # Open around the clock, yet nobody was sent to the night: 07:00-21:00 only.
    given = [(slot.start.astimezone(settings.tz).time(), slot.end.astimezone(settings.tz).time())
             for slot in slots if slot.booked]
    assert given and all(dt.time(7) <= start and end <= dt.time(21) for start, end in given)
    # The night slots are there, open, for whoever picks one.
    assert any(slot.capacity > 0 and slot.start.astimezone(settings.tz).hour < 7
               for slot in slots)
    assert registrants == 2000 - 78  # the sample's bad rows are refused
    assert active == registrants  # everyone has a slot
    assert len(days) == 14
    assert holidays  # Christmas falls in the window and stays open


def test_demo_creates_an_operator_account_once(database_url: str, tmp_path: Path) -> None:
    settings = replace(Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path)}),
                       database_url=database_url.replace("postgresql://",
                                                         "postgresql+psycopg://", 1))
    password = seed_demo_operator(settings)
    assert password and len(password) >= 12
    assert seed_demo_operator(settings) is None  # an admin exists now
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        user = authenticate(session, "operator", password, settings.admin.passwords)
        assert user is not None and user.role == "admin"
    engine.dispose()


def test_no_demo_operator_outside_demo_mode(database_url: str, tmp_path: Path) -> None:
    settings = replace(Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path)}),
                       database_url=database_url.replace("postgresql://",
                                                         "postgresql+psycopg://", 1),
                       demo=False)
    assert seed_demo_operator(settings) is None
