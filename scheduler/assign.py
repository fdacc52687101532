"""Bulk scheduling: give every registrant without a booking a slot, millions at a time.

The spreading itself is pure (``scheduler.spreading``) and works on counts; this
module moves the result into SQL with bulk statements only: registrant ids come
out in one query, (registrant, slot, code) rows go into a temporary table by
COPY on PostgreSQL (executemany on SQLite), and one INSERT ... SELECT turns
them into bookings. Nothing is done one registrant at a time.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scheduler.calendar import DEFAULT_TZ
from scheduler.codes import new_codes
from scheduler.models import Slot
from scheduler.spreading import Shortfall, SlotLoad, spread_registrants
from scheduler.store import assignment_hours_of, get_calendar, min_notice

# (stage, done, total): stages are "read", "write", "insert", "done".
AssignProgress = Callable[[str, int, int], None]

_BATCH = 200_000
_TEMP = "antrean_assign_tmp"
_UNBOOKED_IDS = (
    "SELECT r.id FROM registrants r WHERE r.on_roster AND NOT EXISTS ("
    "SELECT 1 FROM bookings b WHERE b.registrant_id = r.id AND b.status = 'active'"
    ") ORDER BY r.id"
)


@dataclass(frozen=True, slots=True)
class AssignmentReport:
    """The outcome of one bulk assignment."""

    registrants: int
    assigned: int
    unassigned: int
    slots_used: int
    shortfall: Shortfall | None


def assign_unbooked(
    session: Session,
    room: str,
    now: dt.datetime,
    *,
    progress: AssignProgress | None = None,
) -> AssignmentReport:
    """Book everyone on the roster without an active booking into the room's future free slots.

    Only slots that start and end within the calendar's assignment hours are
    used: the scheduler does not send people to the night, though a visitor
    may book such a slot themselves. Registrants are taken in id (roster)
    order and spread evenly over the days by ``spread_registrants``; the ones
    that do not fit are counted, with the shortfall telling how much later the
    window would have to end or how much higher the calendar's planned cap
    would have to be.
    """
    report = progress or _no_progress
    earliest = now + min_notice(session, room)
    # A no-op write first: it takes the write lock on the room's future slots
    # (every row on PostgreSQL, the database on SQLite) so that a visitor
    # booking meanwhile waits instead of being counted twice.
    session.execute(
        update(Slot)
        .where(Slot.room == room, Slot.start >= earliest)
        .values(booked=Slot.booked)
        .execution_options(synchronize_session=False)
    )
    calendar = get_calendar(session, room)
    zone = ZoneInfo(calendar.timezone if calendar is not None else DEFAULT_TZ)
    hours = assignment_hours_of(calendar)
    max_active = calendar.planned_max_active if calendar is not None else None
    slots: list[SlotLoad] = []
    for row in session.execute(
        select(Slot.id, Slot.day, Slot.start, Slot.end, Slot.capacity, Slot.booked, Slot.holiday)
        .where(Slot.room == room, Slot.start >= earliest)
        .order_by(Slot.start)
    ):
        start = row.start.astimezone(zone)
        if hours.holds(start, row.end.astimezone(zone)):
            slots.append(SlotLoad(row.id, row.day, start, row.capacity, row.booked,
                                  row.holiday is not None))
    # The driver's own connection, inside the session's transaction: COPY and
    # plain executemany are what make millions of rows fast.
    raw: Any = session.connection().connection.dbapi_connection
    postgres = session.get_bind().dialect.name == "postgresql"
    report("read", 0, 0)
    ids = _read_unbooked_ids(raw, postgres)
    report("read", len(ids), len(ids))
    spread = spread_registrants(len(ids), slots, max_active=max_active)
    if spread.assigned == 0:
        return AssignmentReport(len(ids), 0, spread.unassigned, 0, spread.shortfall)

    _create_temp_table(raw, postgres)
    try:
        written = 0
        # One call for all codes: new_codes keeps them distinct from each other.
        codes = new_codes(spread.assigned)
        for batch in _batches(_rows(ids, spread.runs, codes), _BATCH):
            _write_batch(raw, postgres, batch)
            written += len(batch)
            report("write", written, spread.assigned)
        _replace_colliding_codes(raw, postgres)
        report("insert", 0, spread.assigned)
        inserted = _insert_bookings(raw, postgres, now)
        report("insert", inserted, spread.assigned)
        counts: list[tuple[int, Any]] = [
            (count, slot_id)
            for slot_id, count in zip(spread.slot_ids, spread.slot_counts, strict=True)
            if count
        ]
        cursor = raw.cursor()
        cursor.executemany(
            _placeholders("UPDATE slots SET booked = booked + %s WHERE id = %s", postgres),
            counts,
        )
        cursor.close()
    finally:
        _drop_temp_table(raw)
    report("done", inserted, spread.assigned)
    unassigned = len(ids) - inserted
    shortfall = spread.shortfall if unassigned else None
    return AssignmentReport(len(ids), inserted, unassigned, len(counts), shortfall)


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _placeholders(sql: str, postgres: bool) -> str:
    return sql if postgres else sql.replace("%s", "?")


def _read_unbooked_ids(raw: Any, postgres: bool) -> list[int]:
    cursor = raw.cursor()
    try:
        if postgres:
            # COPY out and split: several times faster than fetching 2 million tuples.
            buffer = io.BytesIO()
            with cursor.copy(f"COPY ({_UNBOOKED_IDS}) TO STDOUT") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            return list(map(int, buffer.getvalue().split()))
        cursor.execute(_UNBOOKED_IDS)
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()


def _rows(ids: list[int], runs: Any, codes: list[str]) -> Iterator[tuple[int, int, str]]:
    used = 0
    for run in runs:
        slot_id = run.slot_id
        chunk = ids[run.first : run.first + run.count]
        for registrant_id, code in zip(chunk, codes[used : used + len(chunk)], strict=True):
            yield registrant_id, slot_id, code
        used += len(chunk)


def _batches(rows: Iterator[tuple[int, int, str]], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(rows, size)):
        yield batch


def _create_temp_table(raw: Any, postgres: bool) -> None:
    cursor = raw.cursor()
    suffix = " ON COMMIT DROP" if postgres else ""
    cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_TEMP} "
        f"(registrant_id INTEGER NOT NULL, slot_id INTEGER NOT NULL, code VARCHAR(8) NOT NULL)"
        + suffix
    )
    cursor.close()


def _drop_temp_table(raw: Any) -> None:
    cursor = raw.cursor()
    try:
        cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
    except Exception:  # the transaction is already failing; its rollback drops it
        pass
    finally:
        cursor.close()


def _write_batch(raw: Any, postgres: bool, batch: list[tuple[int, int, str]]) -> None:
    cursor = raw.cursor()
    if postgres:
        text = "".join(f"{rid}\t{sid}\t{code}\n" for rid, sid, code in batch)
        with cursor.copy(f"COPY {_TEMP} (registrant_id, slot_id, code) FROM STDIN") as copy:
            copy.write(text)
    else:
        cursor.executemany(f"INSERT INTO {_TEMP} VALUES (?, ?, ?)", batch)
    cursor.close()


def _replace_colliding_codes(raw: Any, postgres: bool) -> None:
    # Codes are random: across millions of bookings a few may repeat an older
    # one (new_codes already keeps this run's codes distinct). Replace just those.
    cursor = raw.cursor()
    while True:
        cursor.execute(
            f"SELECT t.code FROM {_TEMP} t JOIN bookings b ON b.code = t.code"
        )
        colliding = [row[0] for row in cursor.fetchall()]
        if not colliding:
            break
        for old, new in zip(colliding, new_codes(len(colliding)), strict=True):
            cursor.execute(
                _placeholders(f"UPDATE {_TEMP} SET code = %s WHERE code = %s", postgres),
                (new, old),
            )
    cursor.close()


def _insert_bookings(raw: Any, postgres: bool, now: dt.datetime) -> int:
    stamp: Any = now.astimezone(dt.UTC)
    if not postgres:
        # The same text form SQLAlchemy writes for UTCDateTime on SQLite.
        stamp = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    cursor = raw.cursor()
    # No ON CONFLICT needed (it costs a tenth of the time): the slot lock taken
    # first makes a visitor's own booking either visible to the id query or
    # wait until we commit, when the partial unique index turns it away.
    cursor.execute(
        _placeholders(
            "INSERT INTO bookings (code, registrant_id, slot_id, status, source, "
            "created_at, updated_at) "
            f"SELECT code, registrant_id, slot_id, 'active', 'assigned', %s, %s FROM {_TEMP}",
            postgres,
        ),
        (stamp, stamp),
    )
    inserted = int(cursor.rowcount)
    cursor.close()
    return inserted
