"""Benchmark: schedule a national-size roster (2.2 million registrants) into slots.

    python -m bench.schedule                       # PostgreSQL and SQLite, 2.2 million each
    python -m bench.schedule --db postgresql --count 2200000
    python -m bench.schedule --db sqlite --sqlite-count 500000

The roster is generated and loaded by COPY (PostgreSQL) or executemany
(SQLite); only ``assign_unbooked`` (plus its commit) is timed. Each run uses a
fresh database: a throwaway PostgreSQL database, a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from portal.db import create_db_engine, session_factory, upgrade
from scheduler.assign import assign_unbooked
from scheduler.calendar import MIDNIGHT, DailyHours
from scheduler.models import Booking, Slot
from scheduler.store import CapacityRule, regenerate_slots, save_calendar

TARGET_SECONDS = 60.0
# 31 days, all day, 30-minute slots: 1,488 slots; 0.3 * 4000 * 30 / 20 = 1,800
# places each, 2.68 million in all: room for everyone, as in a planned window.
# Assignment runs around the clock here so that every one of those places is used.
ALL_DAY = DailyHours(MIDNIGHT, MIDNIGHT)
RULE = CapacityRule(max_active=4000, booked_share=0.3, expected_session_minutes=20)
WINDOW_DAYS = 31
ROOM = "bench"


def _roster_lines(start: int, stop: int) -> str:
    return "".join(f"3601{i:012d}\tPendaftar {i}\t+62812{i:08d}\n" for i in range(start, stop))


def _load_roster_postgres(url: str, count: int) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
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


def run_once(url: str, count: int, label: str) -> float:
    """Load ``count`` registrants into a migrated database at ``url``; return seconds to assign."""
    engine = create_db_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    if url.startswith("postgresql"):
        _load_roster_postgres(url, count)
    else:
        _load_roster_sqlite(url.split("///", 1)[1], count)
    print(f"[{label}] roster of {count:,} loaded in {time.perf_counter() - started:.1f} s")
    sessions = session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    first = (now + dt.timedelta(days=1)).astimezone(dt.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0)
    with sessions() as session, session.begin():
        save_calendar(session, ROOM, window_start=first,
                      window_end=first + dt.timedelta(days=WINDOW_DAYS), timezone="UTC",
                      capacity=RULE, assignment_hours=ALL_DAY)
        changes = regenerate_slots(session, ROOM, now)
    print(f"[{label}] {changes.created} slots")

    def progress(stage: str, done: int, total: int) -> None:
        print(f"[{label}]   {time.perf_counter() - started:6.1f} s  {stage} {done:,}/{total:,}")

    started = time.perf_counter()
    with sessions() as session, session.begin():
        result = assign_unbooked(session, ROOM, now, progress=progress)
    elapsed = time.perf_counter() - started
    with sessions() as session:
        bookings = session.scalar(select(func.count()).select_from(Booking))
        over = session.scalar(select(func.count()).select_from(Slot).where(
            Slot.booked > Slot.capacity))
        booked = session.scalar(select(func.sum(Slot.booked)))
    engine.dispose()
    assert bookings == result.assigned == booked == count and over == 0, (bookings, booked, over)
    verdict = "OK" if elapsed <= TARGET_SECONDS else "SLOWER THAN TARGET"
    print(f"[{label}] scheduled {result.assigned:,} registrants in {elapsed:.1f} s "
          f"({result.assigned / elapsed:,.0f}/s); target {TARGET_SECONDS:.0f} s: {verdict}")
    return elapsed


def bench_postgres(admin_url: str, count: int) -> float:
    """Run on a throwaway database of the PostgreSQL server at ``admin_url``."""
    admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"antrean_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return run_once(admin_url.rsplit("/", 1)[0] + f"/{name}", count, "postgresql")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_sqlite(count: int) -> float:
    """Run on a temporary SQLite file."""
    with tempfile.TemporaryDirectory() as directory:
        return run_once(f"sqlite:///{Path(directory) / 'bench.db'}", count, "sqlite")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench.schedule", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--count", type=int, default=2_200_000)
    parser.add_argument("--sqlite-count", type=int, default=None,
                        help="registrants for SQLite (default: --count)")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "ANTREAN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if args.db in ("postgresql", "both"):
        try:
            bench_postgres(args.postgres_url, args.count)
        except OperationalError as exc:
            print(f"PostgreSQL at {args.postgres_url} not reachable ({type(exc).__name__}): "
                  "skipped")
    if args.db in ("sqlite", "both"):
        bench_sqlite(args.sqlite_count or args.count)


if __name__ == "__main__":
    main()
