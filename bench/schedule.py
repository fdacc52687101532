"""Benchmark: schedule a national-size roster (2.2 million registrants) into slots.

    python -m bench.schedule                       # PostgreSQL and SQLite, 2.2 million each
    python -m bench.schedule --db postgresql --count 2200000
    python -m bench.schedule --db sqlite --sqlite-count 500000

The roster is generated and loaded by COPY (PostgreSQL) or executemany
(SQLite); only ``assign_unbooked`` (plus its commit) is timed. Each run uses a
fresh database: a throwaway PostgreSQL database, a temporary SQLite file.

The target is a ratio, not seconds, so that it holds on any machine. In the same
run and database, the very rows the assignment wrote are written again into an
empty twin of ``bookings`` (the same columns, defaults, checks, indexes and
foreign keys) the fastest plain way the database has, and only that write and
its commit are timed, as the assignment is: the assignment may take at most
RATIO_TARGET times as long. Before each of the two the database is settled
(``settle``), so that neither pays for what an earlier step left behind.

On PostgreSQL the bare write is one COPY FROM STDIN. SQLite has no COPY; its
bare write is one INSERT ... SELECT from a temporary table holding the rows
(filled beforehand, untimed). That is the fair floor: the whole write runs in
SQLite's own loop, with no Python object and no parameter bound per row, so it
takes less than executemany of the same prepared rows in one transaction, which
binds seven parameters a row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from portal.db import create_db_engine, session_factory, upgrade
from scheduler.assign import assign_unbooked
from scheduler.calendar import MIDNIGHT, DailyHours
from scheduler.models import Booking, Slot
from scheduler.store import CapacityRule, regenerate_slots, save_calendar

RATIO_TARGET = 1.5
# 31 days, all day, 30-minute slots: 1,488 slots; 0.3 * 4000 * 30 / 20 = 1,800
# places each, 2.68 million in all: room for everyone, as in a planned window.
# Assignment runs around the clock here so that every one of those places is used.
ALL_DAY = DailyHours(MIDNIGHT, MIDNIGHT)
RULE = CapacityRule(max_active=4000, booked_share=0.3, expected_session_minutes=20)
WINDOW_DAYS = 31
ROOM = "bench"
BARE = "bookings_bare"
# The columns the assignment writes; the others keep their defaults in both tables.
WRITTEN = "code, registrant_id, slot_id, status, source, created_at, updated_at"
_STAGING = "bookings_bare_rows"

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One database's assignment against the bare write of the same rows."""

    database: str
    rows: int
    assignment_seconds: float
    bare_rows: int
    bare_seconds: float

    @property
    def ratio(self) -> float:
        """How many times the bare write's time the assignment took."""
        return self.assignment_seconds / self.bare_seconds

    @property
    def verdict(self) -> str:
        """PASS when the ratio is within RATIO_TARGET, else MISS."""
        return "PASS" if self.ratio <= RATIO_TARGET else "MISS"


def _roster_lines(start: int, stop: int) -> str:
    return "".join(f"3601{i:012d}\tPendaftar {i}\t+62812{i:08d}\n" for i in range(start, stop))


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _load_roster_postgres(url: str, count: int) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(url)) as connection:
        with connection.cursor() as cursor:
            with cursor.copy("COPY registrants (nik, name, phone) FROM STDIN") as copy:
                for start in range(0, count, 500_000):
                    copy.write(_roster_lines(start, min(count, start + 500_000)))
        connection.execute("ANALYZE registrants")


def _load_roster_sqlite(path: str, count: int) -> None:
    import sqlite3

    connection = sqlite3.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO registrants (nik, name, phone) VALUES (?, ?, ?)",
            ((f"3601{i:012d}", f"Pendaftar {i}", f"+62812{i:08d}") for i in range(count)),
        )
    connection.close()


def _postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def settle(engine: Engine) -> None:
    """Finish what earlier steps left behind, so that no timed write pays for it.

    On PostgreSQL that is the vacuum autovacuum would start on the tables just
    written (beside the next timed write, on the same cores; it also sets the
    hint bits of a fresh roster) and a checkpoint; on SQLite a checkpoint.
    """
    pooled = engine.raw_connection()
    raw: Any = pooled.dbapi_connection
    try:
        if _postgres(engine):
            raw.rollback()  # the pool's ping may have begun one: VACUUM runs outside
            raw.autocommit = True
            try:
                raw.execute("VACUUM (ANALYZE)")
                raw.execute("CHECKPOINT")
            finally:
                raw.autocommit = False
        else:
            # Outside any transaction, where SQLite can checkpoint.
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        pooled.close()


def time_assignment(engine: Engine, now: dt.datetime, log: Log) -> tuple[float, int]:
    """Assign everyone unbooked in ROOM; return the seconds it took with its commit, and rows."""
    sessions = session_factory(engine)
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        log(f"  {time.perf_counter() - started:6.1f} s  {stage} {done:,}/{total:,}")

    with sessions() as session, session.begin():
        result = assign_unbooked(session, ROOM, now, progress=progress)
    return time.perf_counter() - started, result.assigned


def create_bare_table(connection: Connection) -> None:
    """Create BARE, an empty twin of ``bookings``: columns, checks, indexes, foreign keys."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"CREATE TABLE {BARE} (LIKE bookings INCLUDING ALL)")
        # LIKE copies the id default, which would draw from the bookings' sequence.
        connection.exec_driver_sql(f"CREATE SEQUENCE {BARE}_id_seq OWNED BY {BARE}.id")
        connection.exec_driver_sql(
            f"ALTER TABLE {BARE} ALTER COLUMN id SET DEFAULT nextval('{BARE}_id_seq')")
        # LIKE leaves foreign keys out: add the very ones bookings has.
        keys = connection.exec_driver_sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'bookings'::regclass AND contype = 'f'").scalars().all()
        for definition in keys:
            connection.exec_driver_sql(f"ALTER TABLE {BARE} ADD {definition}")
        return
    rows = connection.exec_driver_sql(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'bookings' AND sql IS NOT NULL "
        "ORDER BY type = 'index'").all()
    for kind, sql in rows:
        connection.exec_driver_sql(_twin_sql(kind, sql))


def _twin_sql(kind: str, sql: str) -> str:
    # SQLite's own CREATE statements for bookings, renamed: the twin is built from
    # the schema as stored, whatever migrations made of it.
    patterns = {
        "table": (r'^CREATE TABLE "?bookings"?(?=\s*\()', f"CREATE TABLE {BARE}"),
        "index": (r'^(CREATE (?:UNIQUE )?INDEX) "?(\w+)"? ON "?bookings"?(?=\s*\()',
                  rf"\1 \2_bare ON {BARE}"),
    }
    if kind not in patterns:
        raise ValueError(f"bookings has a {kind} the bare table does not copy")
    pattern, replacement = patterns[kind]
    renamed, found = re.subn(pattern, replacement, sql)
    if found != 1:
        raise ValueError(f"unexpected CREATE statement for bookings: {sql[:80]!r}")
    return renamed


def time_bare_write(engine: Engine) -> tuple[float, int]:
    """Write the rows of ``bookings`` again into an empty BARE; return seconds and rows.

    Only the write and its commit are timed: making the table and getting the
    rows ready are not. BARE is dropped afterwards.
    """
    # One connection throughout: SQLite's temporary table lives on it.
    with engine.connect() as connection:
        with connection.begin():
            create_bare_table(connection)
            write = _prepare_bare_write(connection)
        settle(engine)
        raw: Any = connection.connection.dbapi_connection
        started = time.perf_counter()
        with connection.begin():
            write(raw)
        seconds = time.perf_counter() - started
        with connection.begin():
            written = int(connection.exec_driver_sql(f"SELECT count(*) FROM {BARE}").scalar_one())
            connection.exec_driver_sql(f"DROP TABLE {BARE}")
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql(f"DROP TABLE {_STAGING}")
    return seconds, written


def _prepare_bare_write(connection: Connection) -> Callable[[Any], None]:
    # The rows in the order the assignment wrote them, made ready untimed; the
    # function returned is the timed write, on the driver's own connection.
    select_rows = f"SELECT {WRITTEN} FROM bookings ORDER BY id"
    if connection.dialect.name == "postgresql":
        raw: Any = connection.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY ({select_rows}) TO STDOUT") as out:
            chunks = [bytes(chunk) for chunk in out]

        def copy_in(raw: Any) -> None:
            with raw.cursor() as cursor, cursor.copy(f"COPY {BARE} ({WRITTEN}) FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write(chunk)

        return copy_in
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {_STAGING} AS {select_rows}")

    def insert_select(raw: Any) -> None:
        raw.execute(f"INSERT INTO {BARE} ({WRITTEN}) SELECT {WRITTEN} FROM {_STAGING}")

    return insert_select


def measure(url: str, count: int, label: str, log: Log = print) -> Measurement:
    """Load ``count`` registrants into the database at ``url``, assign them, then write bare.

    The database must hold no roster and no slots yet (it is migrated here if it
    is not); it is left with the roster and the assignment's bookings.
    """
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        if _postgres(engine):
            _load_roster_postgres(url, count)
        else:
            _load_roster_sqlite(url.split("///", 1)[1], count)
        log(f"[{label}] roster of {count:,} loaded in {time.perf_counter() - started:.1f} s")
        now = dt.datetime.now(dt.UTC)
        first = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        sessions = session_factory(engine)
        with sessions() as session, session.begin():
            save_calendar(session, ROOM, window_start=first,
                          window_end=first + dt.timedelta(days=WINDOW_DAYS), timezone="UTC",
                          capacity=RULE, assignment_hours=ALL_DAY)
            changes = regenerate_slots(session, ROOM, now)
        log(f"[{label}] {changes.created} slots")
        settle(engine)
        seconds, assigned = time_assignment(engine, now, lambda line: log(f"[{label}] {line}"))
        with sessions() as session:
            bookings = session.scalar(select(func.count()).select_from(Booking))
            over = session.scalar(select(func.count()).select_from(Slot).where(
                Slot.booked > Slot.capacity))
            booked = session.scalar(select(func.sum(Slot.booked)))
        if not (bookings == assigned == booked == count and over == 0):
            raise AssertionError(f"assignment wrote {bookings} bookings, counted {booked} "
                                 f"places, {over} slots over capacity, for {count} registrants")
        log(f"[{label}] scheduled {assigned:,} registrants in {seconds:.1f} s "
            f"({assigned / seconds:,.0f}/s)")
        bare_seconds, bare_rows = time_bare_write(engine)
        log(f"[{label}] bare write of {bare_rows:,} rows in {bare_seconds:.1f} s")
        return Measurement(label, assigned, seconds, bare_rows, bare_seconds)
    finally:
        engine.dispose()


def table(measurements: Sequence[Measurement], note: str = "") -> str:
    """The measurements as a plain-text table."""
    head = (f"{'database':<11} {'rows':>10} {'assignment s':>12} {'bare write s':>12} "
            f"{'ratio':>6} {'target':>6}  verdict")
    lines = [head, "-" * len(head)]
    for m in measurements:
        lines.append(f"{m.database:<11} {m.rows:>10,} {m.assignment_seconds:>12.1f} "
                     f"{m.bare_seconds:>12.1f} {m.ratio:>5.2f}x {RATIO_TARGET:>5.1f}x  "
                     f"{m.verdict}")
    if note:
        lines.append(note)
    return "\n".join(lines)


def bench_postgres(admin_url: str, count: int) -> Measurement:
    """Run on a throwaway database of the PostgreSQL server at ``admin_url``."""
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"antrean_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return measure(admin_url.rsplit("/", 1)[0] + f"/{name}", count, "postgresql")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_sqlite(count: int) -> Measurement:
    """Run on a temporary SQLite file."""
    with tempfile.TemporaryDirectory() as directory:
        return measure(f"sqlite:///{Path(directory) / 'bench.db'}", count, "sqlite")


def main() -> None:
    """Parse arguments, run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="python -m bench.schedule", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--count", type=int, default=2_200_000)
    parser.add_argument("--sqlite-count", type=int, default=None,
                        help="registrants for SQLite (default: --count)")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "ANTREAN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    measurements: list[Measurement] = []
    notes: list[str] = []
    if args.db in ("postgresql", "both"):
        try:
            measurements.append(bench_postgres(args.postgres_url, args.count))
        except OperationalError as exc:
            notes.append(f"PostgreSQL at {args.postgres_url} not reachable "
                         f"({type(exc).__name__}): skipped")
    if args.db in ("sqlite", "both"):
        sqlite_count = args.sqlite_count or args.count
        measurements.append(bench_sqlite(sqlite_count))
        if sqlite_count != args.count and args.db == "both":
            notes.append(f"SQLite ran {sqlite_count:,} registrants (--sqlite-count), "
                         f"not {args.count:,}")
    print()
    print("Assignment time over the bare write of the same bookings "
          "(PostgreSQL: COPY FROM STDIN; SQLite: INSERT ... SELECT from a temporary table)")
    print(table(measurements, "\n".join(notes)))


if __name__ == "__main__":
    main()
