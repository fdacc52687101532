"""Self-service bookings: book, look up, move and cancel a slot, and offer free slots.

Race-free by construction: a place is taken with one conditional UPDATE
(``booked < capacity``) and one active booking per person is a partial unique
index, so concurrent requests can never overfill a slot or double-book a NIK.
Functions take a ``Session`` and never commit; after a BookingError the caller
must roll back (on PostgreSQL the failed statement has aborted the transaction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.calendar import DEFAULT_TZ, DailyHours
from scheduler.codes import new_code
from scheduler.models import Booking, Registrant, Slot
from scheduler.spreading import SlotLoad, SlotPreference, spread_registrants
from scheduler.store import assignment_hours_of, get_calendar, min_notice

_CANDIDATE_LIMIT = 20_000  # free slots looked at when choosing by preference or offering


class BookingError(Exception):
    """A booking request that cannot be granted; ``code`` is the API error code."""

    code = "booking_error"
    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SlotFull(BookingError):
    """The slot has no free place left."""

    code = "slot_full"


class AlreadyBooked(BookingError):
    """The person already holds an active booking."""

    code = "already_booked"


class NoMatchingSlot(BookingError):
    """No free slot satisfies the preferences given."""

    code = "no_matching_slot"


class TooLate(BookingError):
    """The slot starts sooner than the minimum notice allows to book, move or cancel."""

    code = "too_late"


class SlotNotFound(BookingError):
    """No slot with that id in this room."""

    code = "slot_not_found"
    status = 404


class BookingNotFound(BookingError):
    """No active booking with that code for that NIK (the two are never told apart)."""

    code = "not_found"
    status = 404


@dataclass(frozen=True, slots=True)
class Contact:
    """Who books: already validated and normalised by the caller."""

    nik: str
    name: str
    phone: str | None
    email: str | None


def book_slot(
    session: Session, room: str, contact: Contact, slot_id: int, now: dt.datetime
) -> Booking:
    """Book one place in a slot for a person; raise SlotFull, AlreadyBooked, TooLate, ..."""
    registrant_id = _registrant_id(session, contact)
    if _active_booking_id(session, registrant_id) is not None:
        raise AlreadyBooked("NIK ini sudah memiliki jadwal aktif.")
    _take_place(session, room, slot_id, now)
    return _insert_booking(session, registrant_id, slot_id, contact, now)


def book_by_preference(
    session: Session,
    room: str,
    contact: Contact,
    preference: SlotPreference,
    now: dt.datetime,
    attempts: int = 5,
) -> Booking:
    """Book the least-loaded free slot that fits the preference, trying again if one fills up.

    A preference that names no time of day leaves the hour to the system, which
    then keeps to the assignment hours whenever a fitting slot lies in them.
    """
    registrant_id = _registrant_id(session, contact)
    if _active_booking_id(session, registrant_id) is not None:
        raise AlreadyBooked("NIK ini sudah memiliki jadwal aktif.")
    skipped: set[int] = set()
    for _ in range(attempts):
        loads, in_hours = _free_slot_loads(session, room, now)
        candidates = [slot for slot in loads if slot.id not in skipped]
        choice = None
        if preference.time_of_day is None and preference.hours is None:
            preferred = [slot for slot in candidates if slot.id in in_hours]
            within = spread_registrants(1, preferred, preferences={0: preference})
            if not (within.unassigned or within.preference_misses):
                choice = within
        if choice is None:
            choice = spread_registrants(1, candidates, preferences={0: preference})
        if choice.unassigned or choice.preference_misses:
            raise NoMatchingSlot("Tidak ada jadwal kosong yang sesuai dengan pilihan Anda.")
        slot_id = cast(int, choice.runs[0].slot_id)
        try:
            _take_place(session, room, slot_id, now)
        except SlotFull:
            # Filled between our read and our update: pick again without it.
            skipped.add(slot_id)
            continue
        return _insert_booking(session, registrant_id, slot_id, contact, now)
    raise SlotFull("Jadwal yang cocok baru saja penuh. Silakan coba lagi.")


def find_booking(session: Session, code: str, nik: str) -> tuple[Booking, Slot]:
    """Return the booking with this code held by this NIK, and its slot; else BookingNotFound."""
    row = session.execute(
        select(Booking, Slot)
        .join(Registrant, Registrant.id == Booking.registrant_id)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Booking.code == code, Registrant.nik == nik)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise BookingNotFound("Kode pemesanan atau NIK tidak cocok.")
    return row[0], row[1]


def active_booking_of(session: Session, nik: str) -> tuple[Booking, Slot] | None:
    """The active booking of a NIK, for a caller that has already proved the NIK is theirs."""
    row = session.execute(
        select(Booking, Slot)
        .join(Registrant, Registrant.id == Booking.registrant_id)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Registrant.nik == nik, Booking.status == "active")
    ).first()
    return (row[0], row[1]) if row is not None else None


def booking_by_code(session: Session, code: str) -> tuple[Booking, Slot] | None:
    """Return a booking and its slot by code alone (for server-side use, not for visitors)."""
    row = session.execute(
        select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id).where(Booking.code == code)
    ).first()
    return (row[0], row[1]) if row is not None else None


def cancel_booking(
    session: Session, room: str, code: str, nik: str, now: dt.datetime
) -> tuple[Booking, Slot]:
    """Cancel an active booking and free its place, if the slot is not too close."""
    booking, slot = _active_owned(session, code, nik)
    _check_notice(session, room, slot, now, "dibatalkan")
    # Conditional on still being active: of two cancels at once only one frees a place.
    changed = _update_count(
        session,
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == "active")
        .values(status="cancelled", updated_at=now, sequence=Booking.sequence + 1),
    )
    if changed != 1:
        raise BookingNotFound("Pemesanan ini sudah dibatalkan.")
    _release_place(session, slot.id)
    session.refresh(booking)
    session.refresh(slot)
    return booking, slot


def reschedule_booking(
    session: Session, room: str, code: str, nik: str, new_slot_id: int, now: dt.datetime
) -> tuple[Booking, Slot]:
    """Move an active booking to another slot, keeping its code; the old place is freed."""
    booking, old_slot = _active_owned(session, code, nik)
    if new_slot_id == old_slot.id:
        return booking, old_slot
    _check_notice(session, room, old_slot, now, "dipindahkan")
    # Both slot rows locked in id order: two people swapping slots must not deadlock.
    _lock_slots(session, [old_slot.id, new_slot_id])
    # Conditional on the booking being where we read it: of two moves at once one wins.
    changed = _update_count(
        session,
        update(Booking)
        .where(
            Booking.id == booking.id,
            Booking.status == "active",
            Booking.slot_id == old_slot.id,
        )
        .values(slot_id=new_slot_id, updated_at=now, sequence=Booking.sequence + 1),
    )
    if changed != 1:
        raise BookingNotFound("Pemesanan ini baru saja diubah. Muat ulang lalu coba lagi.")
    _take_place(session, room, new_slot_id, now)
    _release_place(session, old_slot.id)
    session.refresh(booking)
    new_slot = session.get_one(Slot, new_slot_id, populate_existing=True)
    return booking, new_slot


def offer_slots(
    session: Session, room: str, now: dt.datetime, eta_seconds: float, count: int = 3
) -> list[Slot]:
    """Return up to ``count`` free slots after the wait, spread over the remaining days.

    Offers keep to the calendar's assignment hours while any slot in them is
    free (the night slots stay bookable, just not suggested). The first offer
    is the soonest such slot (the honest alternative to waiting); the others
    are the least-loaded slot of days spread evenly up to the end of the
    window, so that a long queue is not all sent to tomorrow morning.
    """
    if count <= 0:
        return []
    earliest = now + max(dt.timedelta(seconds=max(eta_seconds, 0.0)), min_notice(session, room))
    free = _free_slots(session, room, earliest)
    zone, hours = _zone_and_hours(session, room)
    free = [slot for slot in free if hours.holds(slot.start.astimezone(zone),
                                                 slot.end.astimezone(zone))] or free
    by_day: dict[dt.date, list[Slot]] = {}
    for slot in free:
        by_day.setdefault(slot.day, []).append(slot)
    days = list(by_day)
    if not days:
        return []
    if len(days) <= count or count == 1:
        chosen_days = days[:count]
    else:
        chosen_days = [days[round(i * (len(days) - 1) / (count - 1))] for i in range(count)]
    offers = [by_day[chosen_days[0]][0]]
    for day in chosen_days[1:]:
        # Most free places first; the earliest among equals.
        offers.append(max(by_day[day], key=lambda slot: (slot.capacity - slot.booked, -slot.id)))
    if len(offers) < count:
        # Few days left: fill with the next free slots of the same days.
        taken = {slot.id for slot in offers}
        offers.extend(slot for slot in free if slot.id not in taken)
        offers = sorted(offers[:count], key=lambda slot: slot.start)
    return offers[:count]


def offer_candidates(session: Session, room: str,
                     now: dt.datetime) -> tuple[list[Slot], list[Slot]]:
    """The free slots a wait could be offered, soonest first: those in the hours, and all.

    The first offer of ``offer_slots`` for any wait is the first of the first list
    that starts after the wait, else of the second; a caller that keeps these for a
    while answers every wait without a query of its own.
    """
    free = _free_slots(session, room, now + min_notice(session, room))
    zone, hours = _zone_and_hours(session, room)
    within = [slot for slot in free
              if hours.holds(slot.start.astimezone(zone), slot.end.astimezone(zone))]
    return within, free


def _registrant_id(session: Session, contact: Contact) -> int:
    found = session.scalar(select(Registrant.id).where(Registrant.nik == contact.nik))
    if found is not None:
        return found
    # People not on the roster may book too; ON CONFLICT DO NOTHING lets two
    # first-time requests for one NIK race without either failing here.
    values: dict[str, Any] = {
        "nik": contact.nik,
        "name": contact.name,
        "phone": contact.phone,
        "email": contact.email,
        "on_roster": False,
    }
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            postgresql.insert(Registrant).values(values).on_conflict_do_nothing(
                index_elements=["nik"]
            )
        )
    else:
        session.execute(
            sqlite.insert(Registrant).values(values).on_conflict_do_nothing(index_elements=["nik"])
        )
    return session.scalars(select(Registrant.id).where(Registrant.nik == contact.nik)).one()


def _active_booking_id(session: Session, registrant_id: int) -> int | None:
    return session.scalar(
        select(Booking.id).where(Booking.registrant_id == registrant_id, Booking.status == "active")
    )


def _update_count(session: Session, statement: Update) -> int:
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount


def _take_place(session: Session, room: str, slot_id: int, now: dt.datetime) -> None:
    """Take one place with a conditional UPDATE; explain why when no row was updated."""
    earliest = now + min_notice(session, room)
    taken = _update_count(
        session,
        update(Slot)
        .where(
            Slot.id == slot_id,
            Slot.room == room,
            Slot.booked < Slot.capacity,
            Slot.start >= earliest,
        )
        .values(booked=Slot.booked + 1),
    )
    if taken == 1:
        return
    slot = session.execute(
        select(Slot.start).where(Slot.id == slot_id, Slot.room == room)
    ).first()
    if slot is None:
        raise SlotNotFound("Jadwal tidak ditemukan.")
    if slot.start < earliest:
        raise TooLate("Jadwal ini sudah terlalu dekat atau sudah lewat untuk dipesan.")
    raise SlotFull("Jadwal ini sudah penuh. Silakan pilih jadwal lain.")


def _release_place(session: Session, slot_id: int) -> None:
    session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked > 0)
        .values(booked=Slot.booked - 1)
        .execution_options(synchronize_session=False)
    )


def _lock_slots(session: Session, slot_ids: Sequence[int]) -> None:
    # FOR UPDATE is a no-op on SQLite, whose writers are serialised anyway.
    session.execute(
        select(Slot.id).where(Slot.id.in_(slot_ids)).order_by(Slot.id).with_for_update()
    ).all()


def _insert_booking(
    session: Session, registrant_id: int, slot_id: int, contact: Contact, now: dt.datetime
) -> Booking:
    code = new_code()
    # A fresh code collides with an existing one about once in 500,000 bookings
    # at national scale; looking first keeps the unique index for the real race.
    while session.scalar(select(Booking.id).where(Booking.code == code)) is not None:
        code = new_code()
    booking = Booking(
        code=code,
        registrant_id=registrant_id,
        slot_id=slot_id,
        status="active",
        source="self",
        sequence=0,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        created_at=now,
        updated_at=now,
    )
    session.add(booking)
    try:
        session.flush()
    except IntegrityError as exc:
        # The partial unique index caught a concurrent booking for the same NIK.
        raise AlreadyBooked("NIK ini sudah memiliki jadwal aktif.") from exc
    return booking


def _active_owned(session: Session, code: str, nik: str) -> tuple[Booking, Slot]:
    booking, slot = find_booking(session, code, nik)
    if booking.status != "active":
        raise BookingNotFound("Pemesanan ini sudah dibatalkan.")
    return booking, slot


def _check_notice(
    session: Session, room: str, slot: Slot, now: dt.datetime, verb: str
) -> None:
    notice = min_notice(session, room)
    if slot.start < now + notice:
        minutes = int(notice.total_seconds() // 60)
        raise TooLate(
            f"Jadwal hanya dapat {verb} paling lambat {minutes} menit sebelum dimulai."
        )


def _free_slots(session: Session, room: str, earliest: dt.datetime) -> list[Slot]:
    return list(
        session.scalars(
            select(Slot)
            .where(Slot.room == room, Slot.start >= earliest, Slot.booked < Slot.capacity)
            .order_by(Slot.start)
            .limit(_CANDIDATE_LIMIT)
        )
    )


def _zone_and_hours(session: Session, room: str) -> tuple[ZoneInfo, DailyHours]:
    row = get_calendar(session, room)
    return ZoneInfo(row.timezone if row is not None else DEFAULT_TZ), assignment_hours_of(row)


def _free_slot_loads(
    session: Session, room: str, now: dt.datetime
) -> tuple[list[SlotLoad], set[int]]:
    """The free slots as the spreader sees them, and the ids of those in the assignment hours."""
    zone, hours = _zone_and_hours(session, room)
    loads: list[SlotLoad] = []
    in_hours: set[int] = set()
    for slot in _free_slots(session, room, now + min_notice(session, room)):
        # Local wall-clock time: preferences such as "pagi" are read from it.
        start = slot.start.astimezone(zone)
        loads.append(SlotLoad(id=slot.id, day=slot.day, start=start, capacity=slot.capacity,
                              booked=slot.booked, holiday=slot.holiday is not None))
        if hours.holds(start, slot.end.astimezone(zone)):
            in_hours.add(slot.id)
    return loads, in_hours
