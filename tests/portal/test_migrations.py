"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Engine,
    Float,
    Integer,
    String,
    column,
    insert,
    inspect,
    select,
    table,
)
from sqlalchemy import text as sa_text

import portal.admin.models  # noqa: F401  (every table on the metadata, as env.py has it)
import portal.form.models  # noqa: F401
import portal.identity.models  # noqa: F401
import portal.notify.models  # noqa: F401
import portal.visitor.models  # noqa: F401
from portal.db import alembic_config, create_db_engine, session_factory, upgrade
from scheduler.calendar import DailyHours
from scheduler.models import Base, Booking, UTCDateTime
from scheduler.store import CapacityRule, assignment_hours_of, capacity_of, get_calendar


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        upgrade(engine)  # a second upgrade is a no-op
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"registrants", "drafts", "submissions"} <= tables


PLANNED = {"planned_max_active", "planned_booked_share", "planned_session_minutes",
           "assign_start", "assign_end"}
# calendar_settings as revision 0008 left it, for writing a row the way the app then did.
CALENDAR_0008 = table(
    "calendar_settings", column("room", String), column("window_start", UTCDateTime()),
    column("window_end", UTCDateTime()), column("timezone", String),
    column("slot_minutes", Integer), column("working_plan", JSON),
    column("holiday_weight", Float), column("extra_holidays", JSON),
    column("removed_holidays", JSON), column("min_notice_minutes", Integer))


def calendar_columns(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {found["name"] for found in inspect(connection).get_columns("calendar_settings")}


def test_planned_capacity_migrates_both_ways_and_keeps_saved_calendars(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_db_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    config = alembic_config(engine)
    start = dt.datetime(2031, 8, 15, tzinfo=dt.UTC)
    try:
        command.downgrade(config, "0008")
        assert not PLANNED & calendar_columns(engine)
        with engine.begin() as connection:
            connection.execute(insert(CALENDAR_0008).values(
                room="main", window_start=start, window_end=start + dt.timedelta(days=4),
                timezone="Asia/Jakarta", slot_minutes=30,
                working_plan=[[["00:00", "00:00"]]] * 7, holiday_weight=1.5,
                extra_holidays={}, removed_holidays=[], min_notice_minutes=60))
        # The processes start with a cap of 250: the saved calendar plans with it.
        monkeypatch.setenv("ANTREAN_MAX_ACTIVE", "250")
        upgrade(engine)
        assert PLANNED <= calendar_columns(engine)
        with session_factory(engine)() as session:
            row = get_calendar(session, "main")
            assert row is not None and row.window_start == start
            assert capacity_of(row) == CapacityRule(250, 0.3, 20.0)
            assert assignment_hours_of(row) == DailyHours(dt.time(7), dt.time(21))
        command.downgrade(config, "0008")
        assert not PLANNED & calendar_columns(engine)
        with engine.connect() as connection:
            assert connection.execute(select(CALENDAR_0008.c.room)).scalars().all() == ["main"]
        # Without a start-up cap in the environment, the built-in 100.
        monkeypatch.delenv("ANTREAN_MAX_ACTIVE")
        upgrade(engine)
        with session_factory(engine)() as session:
            row = get_calendar(session, "main")
            assert row is not None and row.planned_max_active == 100
    finally:
        engine.dispose()


def booking_columns(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {found["name"] for found in inspect(connection).get_columns("bookings")}


def test_booking_sequence_migrates_both_ways_and_existing_bookings_start_at_zero(
    database_url: str
) -> None:
    engine = create_db_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    config = alembic_config(engine)
    start = dt.datetime(2031, 8, 15, 1, tzinfo=dt.UTC)
    try:
        command.downgrade(config, "0009")
        assert "sequence" not in booking_columns(engine)
        with engine.begin() as connection:  # a booking as revision 0009 wrote it
            connection.execute(insert(table("registrants", column("nik"), column("name")))
                               .values(nik="3601010101010001", name="Siti"))
            connection.execute(insert(table(
                "slots", column("room"), column("start", UTCDateTime()),
                column("end", UTCDateTime()), column("day"), column("capacity"),
                column("booked"))).values(room="main", start=start,
                                          end=start + dt.timedelta(minutes=30),
                                          day=start.date(), capacity=1, booked=1))
            registrant = connection.execute(sa_text("SELECT id FROM registrants")).scalar_one()
            slot = connection.execute(sa_text("SELECT id FROM slots")).scalar_one()
            connection.execute(insert(table(
                "bookings", column("code"), column("registrant_id"), column("slot_id"),
                column("status"), column("source"))).values(
                    code="K7M29QXA", registrant_id=registrant, slot_id=slot, status="active",
                    source="self"))
        upgrade(engine)
        with session_factory(engine)() as session:
            assert session.scalars(select(Booking.sequence)).all() == [0]
        command.downgrade(config, "0009")
        assert "sequence" not in booking_columns(engine)
        with engine.connect() as connection:
            assert connection.execute(sa_text("SELECT code FROM bookings")).scalars().all() == [
                "K7M29QXA"]
        upgrade(engine)
    finally:
        engine.dispose()
