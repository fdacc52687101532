"""The scheduling bench's own measurement, on a few thousand rows of SQLite and PostgreSQL."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Inspector
from sqlalchemy.engine.interfaces import ReflectedIndex

from bench.schedule import BARE, create_bare_table, measure, table
from portal.db import create_db_engine
from scheduler.models import Booking

ROWS = 3000


def test_the_assignment_and_the_bare_write_write_the_same_rows(database_url: str) -> None:
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    lines: list[str] = []
    result = measure(url, ROWS, "test", log=lines.append)
    # Timings are figures to print, never asserted: only that they make a ratio.
    assert result.rows == result.bare_rows == ROWS
    assert result.assignment_seconds > 0 and result.bare_seconds > 0
    assert math.isfinite(result.ratio) and result.ratio > 0
    assert result.verdict in ("PASS", "MISS")
    assert f"{ROWS:,}" in table([result])
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Booking)) == ROWS
            assert BARE not in inspect(connection).get_table_names()
    finally:
        engine.dispose()


def shape(found: Inspector, table: str) -> dict[str, list[Any]]:
    """What a table holds and promises, without the names of its parts."""
    def where(index: ReflectedIndex) -> str:
        options = index.get("dialect_options", {})
        return str(options.get("postgresql_where", options.get("sqlite_where")))

    return {
        # The twin's id comes from a sequence of its own, named after it.
        "columns": [(c["name"], str(c["type"]), c["nullable"],
                     str(c["default"]).replace(BARE, "bookings"))
                    for c in found.get_columns(table)],
        "primary key": found.get_pk_constraint(table)["constrained_columns"],
        "indexes": sorted((tuple(i["column_names"]), bool(i["unique"]), where(i))
                          for i in found.get_indexes(table)),
        "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
        "foreign keys": sorted((tuple(k["constrained_columns"]), k["referred_table"],
                                tuple(k["referred_columns"]))
                               for k in found.get_foreign_keys(table)),
        "checks": sorted(c["sqltext"] for c in found.get_check_constraints(table)),
    }


def test_the_bare_table_is_a_twin_of_bookings(database_url: str) -> None:
    engine = create_db_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            create_bare_table(connection)
            found = inspect(connection)
            twin, bookings = shape(found, BARE), shape(found, "bookings")
            transaction.rollback()
    finally:
        engine.dispose()
    assert twin == bookings
    assert (("slot_id",), "slots", ("id",)) in bookings["foreign keys"]
    assert bookings["unique"] == [("code",)]
    assert any(columns == ("registrant_id",) and unique and "active" in where
               for columns, unique, where in bookings["indexes"])
