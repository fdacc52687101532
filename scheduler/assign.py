"""Bulk scheduling: give every registrant without a booking a slot, millions at a time.

The spreading itself is pure (``scheduler.spreading``) and works on counts; this
module moves the result into SQL with bulk statements only: registrant ids come
out in one query, and the (registrant, slot, code) rows go straight into
bookings, by COPY on PostgreSQL and by one INSERT ... SELECT per batch on SQLite.
No statement is run and no parameter is bound per registrant.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from scheduler.calendar import DEFAULT_TZ
from scheduler.codes import CODE_LENGTH, new_codes
from scheduler.models import Slot
from scheduler.spreading import AssignmentRun, Shortfall, SlotLoad, spread_registrants
from scheduler.store import assignment_hours_of, get_calendar, min_notice

# (stage, done, total): stages are "read", "insert", "done".
AssignProgress = Callable[[str, int, int], None]

_BATCH = 200_000
_PROBE = 1000  # codes checked by look-up; more are checked by one pass over bookings
_SCAN = 50_000  # booking codes per fetch in that pass
# PostgreSQL answers NOT EXISTS with one merge anti-join. SQLite runs it as a look-up
# per registrant and takes about 30 % less time at a million with NOT IN, answered
# from one list built once (registrant_id is never NULL, so the two ask the same).
_UNBOOKED_IDS = (
    "SELECT r.id FROM registrants r WHERE r.on_roster AND NOT EXISTS ("
    "SELECT 1 FROM bookings b WHERE b.registrant_id = r.id AND b.status = 'active'"
    ") ORDER BY r.id"
)
_UNBOOKED_IDS_SQLITE = (
    "SELECT id FROM registrants WHERE on_roster AND id NOT IN ("
    "SELECT registrant_id FROM bookings WHERE status = 'active')"
)

_COLUMNS = "code, registrant_id, slot_id, status, source, created_at, updated_at"
# SQLite has no COPY: the batch comes as three texts that json_each lines up by
# position (the ids as a JSON array, the codes and the zero-padded slot ids as
# fixed-width strings), so the whole batch is one statement in SQLite's own loop
# with no parameter bound per row.
_SQLITE_INSERT = (
    f"INSERT INTO bookings ({_COLUMNS}) "
    "SELECT CAST(substr(:codes, :code_width * j.key + 1, :code_width) AS TEXT), j.value, "
    "CAST(substr(:slots, :slot_width * j.key + 1, :slot_width) AS INTEGER), "
    "'active', 'assigned', :stamp, :stamp FROM json_each(:ids) AS j"
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
    # statements that take a whole batch at once are what make millions of rows fast.
    raw: Any = session.connection().connection.dbapi_connection
    postgres = session.get_bind().dialect.name == "postgresql"
    report("read", 0, 0)
    ids = _read_unbooked_ids(raw, postgres)
    report("read", len(ids), len(ids))
    spread = spread_registrants(len(ids), slots, max_active=max_active)
    if spread.assigned == 0:
        return AssignmentReport(len(ids), 0, spread.unassigned, 0, spread.shortfall)

    # One call for all codes: new_codes keeps them distinct from each other.
    codes = new_codes(spread.assigned)
    _replace_taken_codes(raw, postgres, codes)
    stamp = _stamp(now, postgres)
    # The rows go straight into bookings, a batch per statement: no staging table.
    # Nothing like ON CONFLICT is needed: the slot lock taken first makes a
    # visitor's own booking either visible to the id query or wait until we
    # commit, when the partial unique index turns it away.
    cursor = raw.cursor()
    inserted = 0
    report("insert", 0, spread.assigned)
    for by_slot, batch_ids, batch_codes in _batches(ids, spread.runs, codes, _BATCH):
        inserted += _write_bookings(cursor, postgres, by_slot, batch_ids, batch_codes, stamp)
        report("insert", inserted, spread.assigned)
    counts: list[tuple[int, Any]] = [
        (count, slot_id)
        for slot_id, count in zip(spread.slot_ids, spread.slot_counts, strict=True)
        if count
    ]
    cursor.executemany(
        _placeholders("UPDATE slots SET booked = booked + %s WHERE id = %s", postgres), counts
    )
    cursor.close()
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
        # One JSON array rather than a row per id, parsed in C; sorted here, as
        # SQLite's aggregates promise no order (ids that come in order sort in one pass).
        cursor.execute(f"SELECT json_group_array(id) FROM ({_UNBOOKED_IDS_SQLITE})")
        ids: list[int] = json.loads(cursor.fetchone()[0])
        ids.sort()
        return ids
    finally:
        cursor.close()


def _batches(
    ids: list[int], runs: Sequence[AssignmentRun], codes: list[str], size: int
) -> Iterator[tuple[list[tuple[Any, int]], list[int], list[str]]]:
    """Whole runs, about ``size`` rows at a time: (slot id, rows) per run, ids, codes."""
    used = 0
    by_slot: list[tuple[Any, int]] = []
    batch_ids: list[int] = []
    for run in runs:
        by_slot.append((run.slot_id, run.count))
        batch_ids.extend(ids[run.first : run.first + run.count])
        if len(batch_ids) >= size:
            yield by_slot, batch_ids, codes[used : used + len(batch_ids)]
            used += len(batch_ids)
            by_slot, batch_ids = [], []
    if batch_ids:
        yield by_slot, batch_ids, codes[used : used + len(batch_ids)]


def _taken_codes(raw: Any, postgres: bool, codes: list[str]) -> set[str]:
    """Which of ``codes`` some booking, active or not, already has."""
    if not codes:
        return set()
    cursor = raw.cursor()
    try:
        if len(codes) <= _PROBE:
            marks = ", ".join(["%s"] * len(codes))
            cursor.execute(_placeholders(f"SELECT code FROM bookings WHERE code IN ({marks})",
                                         postgres), codes)
            return {row[0] for row in cursor.fetchall()}
        # Millions of codes: one pass over the codes bookings hold, checked against
        # a set of ours, beats a look-up per code (random reads in a large index)
        # and keeps the memory that of our own codes. Server-side on PostgreSQL,
        # so that the rows come a batch at a time there too.
        cursor.close()
        cursor = raw.cursor(name="antrean_booking_codes") if postgres else raw.cursor()
        ours = set(codes)
        taken: set[str] = set()
        cursor.execute("SELECT code FROM bookings")
        while rows := cursor.fetchmany(_SCAN):
            taken.update(ours.intersection([row[0] for row in rows]))
        return taken
    finally:
        cursor.close()


def _replace_taken_codes(raw: Any, postgres: bool, codes: list[str]) -> None:
    # Codes are random: across millions of bookings a few may repeat an older
    # one (new_codes keeps this run's codes distinct). Replace just those, with
    # codes new to this run too, and check the replacements in turn.
    checking = codes
    ours: set[str] | None = None
    while taken := _taken_codes(raw, postgres, checking):
        ours = ours or set(codes)
        places = [index for index, code in enumerate(codes) if code in taken]
        fresh: list[str] = []
        while len(fresh) < len(places):
            for code in new_codes(len(places) - len(fresh)):
                if code not in ours:
                    ours.add(code)
                    fresh.append(code)
        for index, code in zip(places, fresh, strict=True):
            codes[index] = code
        checking = fresh


def _stamp(now: dt.datetime, postgres: bool) -> str:
    moment = now.astimezone(dt.UTC)
    if postgres:
        return moment.isoformat()
    # The same text form SQLAlchemy writes for UTCDateTime on SQLite.
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _write_bookings(
    cursor: Any,
    postgres: bool,
    by_slot: list[tuple[Any, int]],
    ids: list[int],
    codes: list[str],
    stamp: str,
) -> int:
    if postgres:
        with cursor.copy(f"COPY bookings ({_COLUMNS}) FROM STDIN") as copy:
            used = 0
            for slot_id, count in by_slot:
                tail = f"\t{slot_id}\tactive\tassigned\t{stamp}\t{stamp}\n"
                chunk = zip(codes[used : used + count], ids[used : used + count], strict=True)
                copy.write("".join(f"{code}\t{registrant}{tail}" for code, registrant in chunk))
                used += count
        return int(cursor.rowcount)
    width = len(str(max(slot_id for slot_id, _ in by_slot)))
    cursor.execute(_SQLITE_INSERT, {
        "codes": "".join(codes).encode("ascii"),
        "code_width": CODE_LENGTH,
        "slots": "".join(f"{slot_id:0{width}d}" * count for slot_id, count in by_slot).encode(),
        "slot_width": width,
        "ids": json.dumps(ids),
        "stamp": stamp,
    })
    return int(cursor.rowcount)
