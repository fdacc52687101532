"""Bookings on SQLite and PostgreSQL: rules, notice, offers, and races between processes."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from portal.db import create_db_engine, session_factory
from scheduler.bookings import (
    AlreadyBooked,
    BookingError,
    BookingNotFound,
    Contact,
    NoMatchingSlot,
    SlotFull,
    SlotNotFound,
    TooLate,
    book_by_preference,
    book_slot,
    cancel_booking,
    find_booking,
    offer_slots,
    reschedule_booking,
)
from scheduler.calendar import WorkingPlan
from scheduler.models import Booking, Slot
from scheduler.spreading import SlotPreference
from scheduler.store import CapacityRule, list_slots, regenerate_slots, save_calendar

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=JAKARTA)
ROOM = "main"
RULE = CapacityRule(max_active=10, booked_share=0.5, expected_session_minutes=15)  # 10 a slot


def contact(number: int, name: str = "Siti Aminah") -> Contact:
    return Contact(f"3601{number:012d}", name, "+6281234567890", None)


def url_of(database_url: str) -> str:
    return database_url.replace("postgresql://", "postgresql+psycopg://", 1)


def set_up_slots(session: Session, days: int = 2, capacity_rule: CapacityRule = RULE) -> None:
    """From 2 June 2025, ``days`` days open 08:00-10:00: 4 slots a day."""
    save_calendar(
        session,
        ROOM,
        window_start=dt.datetime(2025, 6, 2, tzinfo=JAKARTA),
        window_end=dt.datetime(2025, 6, 2, tzinfo=JAKARTA) + dt.timedelta(days=days),
        plan=WorkingPlan(tuple(((dt.time(8), dt.time(10)),) for _ in range(7))),
        min_notice_minutes=60,
        capacity=capacity_rule,
    )
    regenerate_slots(session, ROOM, NOW)


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(url_of(database_url))
    factory = session_factory(engine)
    with factory() as session, session.begin():
        set_up_slots(session)
    yield factory
    engine.dispose()


def slot_ids(db: sessionmaker[Session]) -> list[int]:
    with db() as session:
        return [slot.id for slot in list_slots(session, ROOM)]


def test_book_find_and_the_owner_check(db) -> None:
    first = slot_ids(db)[0]
    with db() as session, session.begin():
        booking = book_slot(session, ROOM, contact(1), first, NOW)
        code = booking.code
    with db() as session:
        found, slot = find_booking(session, code, contact(1).nik)
        assert (found.status, found.source, slot.id, slot.booked) == ("active", "self", first, 1)
        with pytest.raises(BookingNotFound):
            find_booking(session, code, contact(2).nik)  # right code, someone else's NIK


def test_one_active_booking_per_nik_and_no_slot_over_capacity(db) -> None:
    first, second = slot_ids(db)[:2]
    with db() as session, session.begin():
        book_slot(session, ROOM, contact(1), first, NOW)
    with pytest.raises(AlreadyBooked), db() as session, session.begin():
        book_slot(session, ROOM, contact(1), second, NOW)
    for number in range(2, 11):
        with db() as session, session.begin():
            book_slot(session, ROOM, contact(number), first, NOW)
    with pytest.raises(SlotFull), db() as session, session.begin():
        book_slot(session, ROOM, contact(11), first, NOW)
    with pytest.raises(SlotNotFound), db() as session, session.begin():
        book_slot(session, ROOM, contact(11), 999_999, NOW)
    with db() as session:
        assert session.get_one(Slot, first).booked == 10
        assert session.scalar(select(func.count()).select_from(Booking)) == 10


def test_minimum_notice_for_booking_moving_and_cancelling(db) -> None:
    first, second = slot_ids(db)[:2]
    with db() as session, session.begin():
        code = book_slot(session, ROOM, contact(1), first, NOW).code
    just_before = dt.datetime(2025, 6, 2, 7, 30, tzinfo=JAKARTA)  # first slot starts 08:00
    with pytest.raises(TooLate), db() as session, session.begin():
        book_slot(session, ROOM, contact(2), first, just_before)
    with pytest.raises(TooLate), db() as session, session.begin():
        cancel_booking(session, ROOM, code, contact(1).nik, just_before)
    with pytest.raises(TooLate), db() as session, session.begin():
        reschedule_booking(session, ROOM, code, contact(1).nik, second, just_before)
    with db() as session:
        assert session.get_one(Slot, first).booked == 1


def test_cancel_frees_the_place_once(db) -> None:
    first = slot_ids(db)[0]
    with db() as session, session.begin():
        code = book_slot(session, ROOM, contact(1), first, NOW).code
    with db() as session, session.begin():
        booking, slot = cancel_booking(session, ROOM, code, contact(1).nik, NOW)
        assert (booking.status, slot.booked) == ("cancelled", 0)
    with pytest.raises(BookingNotFound), db() as session, session.begin():
        cancel_booking(session, ROOM, code, contact(1).nik, NOW)
    with db() as session, session.begin():  # free to book again, with a new code
        assert book_slot(session, ROOM, contact(1), first, NOW).code != code


def test_reschedule_keeps_the_code_and_moves_the_place(db) -> None:
    first, second = slot_ids(db)[:2]
    with db() as session, session.begin():
        code = book_slot(session, ROOM, contact(1), first, NOW).code
        for number in range(2, 13):
            book_slot(session, ROOM, contact(number), second if number < 12 else first, NOW)
    # The second slot is full: the move fails and nothing changes.
    with pytest.raises(SlotFull), db() as session, session.begin():
        reschedule_booking(session, ROOM, code, contact(1).nik, second, NOW)
    third = slot_ids(db)[2]
    with db() as session, session.begin():
        booking, slot = reschedule_booking(session, ROOM, code, contact(1).nik, third, NOW)
        assert (booking.code, booking.slot_id, slot.id, slot.booked) == (code, third, third, 1)
    with db() as session:
        assert [session.get_one(Slot, i).booked for i in (first, second, third)] == [1, 10, 1]



def sequence_of(db: sessionmaker[Session], code: str) -> int:
    with db() as session:
        return session.scalars(select(Booking.sequence).where(Booking.code == code)).one()


def test_each_move_and_the_cancellation_raise_the_sequence_by_one(db) -> None:
    first, second, third = slot_ids(db)[:3]
    nik = contact(1).nik
    with db() as session, session.begin():
        booking = book_slot(session, ROOM, contact(1), first, NOW)
        code = booking.code
        assert booking.sequence == 0
    with db() as session, session.begin():
        for number in range(2, 12):
            book_slot(session, ROOM, contact(number), third, NOW)
    with db() as session, session.begin():  # where it already is: no change, no new number
        assert reschedule_booking(session, ROOM, code, nik, first, NOW)[0].sequence == 0
    with pytest.raises(SlotFull), db() as session, session.begin():  # rolled back with it
        reschedule_booking(session, ROOM, code, nik, third, NOW)
    assert sequence_of(db, code) == 0
    with db() as session, session.begin():
        assert reschedule_booking(session, ROOM, code, nik, second, NOW)[0].sequence == 1
    with db() as session, session.begin():
        assert cancel_booking(session, ROOM, code, nik, NOW)[0].sequence == 2
    assert sequence_of(db, code) == 2


def test_moves_at_once_raise_the_sequence_once_each(db) -> None:
    ids = slot_ids(db)
    nik = contact(1).nik
    with db() as session, session.begin():
        code = book_slot(session, ROOM, contact(1), ids[0], NOW).code

    def move(slot_id: int) -> bool:
        try:
            with db() as session, session.begin():
                reschedule_booking(session, ROOM, code, nik, slot_id, NOW)
        except BookingError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=6) as pool:
        moved = sum(pool.map(move, ids[1:7]))
    assert moved >= 1
    assert sequence_of(db, code) == moved

def test_booking_by_preference_picks_a_fitting_slot(db) -> None:
    with db() as session, session.begin():
        booking = book_by_preference(
            session, ROOM, contact(1), SlotPreference(hours=(9, 10)), NOW
        )
        slot = session.get_one(Slot, booking.slot_id)
        assert slot.start.astimezone(JAKARTA).hour == 9
    with pytest.raises(NoMatchingSlot), db() as session, session.begin():
        book_by_preference(session, ROOM, contact(2), SlotPreference(time_of_day="malam"), NOW)


def test_offers_are_spread_over_the_remaining_days(database_url: str) -> None:
    engine = create_db_engine(url_of(database_url))
    db = session_factory(engine)
    with db() as session, session.begin():
        set_up_slots(session, days=10)
    with db() as session:
        offers = offer_slots(session, ROOM, NOW, eta_seconds=3600, count=3)
        assert [slot.day.day for slot in offers] == [2, 6, 11]
        assert offers[0].start == dt.datetime(2025, 6, 2, 1, tzinfo=dt.UTC)  # the soonest
        # A wait longer than the first days moves the first offer, never into the past.
        later = offer_slots(session, ROOM, NOW, eta_seconds=3 * 86400, count=3)
        assert later[0].day == dt.date(2025, 6, 5) and later[-1].day == dt.date(2025, 6, 11)
        assert offer_slots(session, ROOM, NOW, eta_seconds=30 * 86400) == []
    engine.dispose()


def open_around_the_clock(session: Session, days: int = 2, **changes: object) -> None:
    """From 2 June 2025, ``days`` days open all day (the default plan): 48 slots a day."""
    save_calendar(session, ROOM, window_start=dt.datetime(2025, 6, 2, tzinfo=JAKARTA),
                  window_end=dt.datetime(2025, 6, 2, tzinfo=JAKARTA) + dt.timedelta(days=days),
                  min_notice_minutes=60, capacity=RULE, **changes)  # type: ignore[arg-type]
    regenerate_slots(session, ROOM, NOW)


def local_hours(slot: Slot) -> tuple[dt.time, dt.time]:
    return slot.start.astimezone(JAKARTA).time(), slot.end.astimezone(JAKARTA).time()


def test_offers_keep_to_the_assignment_hours_while_such_a_slot_is_free(
    database_url: str,
) -> None:
    engine = create_db_engine(url_of(database_url))
    db = session_factory(engine)
    with db() as session, session.begin():
        open_around_the_clock(session)
    with db() as session:
        offers = offer_slots(session, ROOM, NOW, eta_seconds=0, count=3)
        # The soonest free slot is 00:00 on 2 June; the first offer is 07:00 instead.
        assert offers[0].start == dt.datetime(2025, 6, 2, 7, tzinfo=JAKARTA)
        assert all(dt.time(7) <= start and end <= dt.time(21)
                   for start, end in map(local_hours, offers))
        # A wait running into the evening of 2 June: the next morning, not that night's 22:00.
        evening = offer_slots(session, ROOM, NOW, eta_seconds=(33 * 3600 + 1800), count=1)
        assert evening[0].start == dt.datetime(2025, 6, 3, 7, tzinfo=JAKARTA)
    with db() as session, session.begin():
        # Only night hours open: with nothing free in the assignment hours, offer the night.
        open_around_the_clock(session, plan=WorkingPlan(
            tuple(((dt.time(22), dt.time(0)),) for _ in range(7))))
    with db() as session:
        [night] = offer_slots(session, ROOM, NOW, eta_seconds=0, count=1)
        assert night.start == dt.datetime(2025, 6, 2, 22, tzinfo=JAKARTA)
    engine.dispose()


def test_booking_without_a_time_of_day_keeps_to_the_assignment_hours(db) -> None:
    with db() as session, session.begin():
        open_around_the_clock(session)
    with db() as session, session.begin():
        saturday = SlotPreference(dates=frozenset({dt.date(2025, 6, 3)}))
        booking = book_by_preference(session, ROOM, contact(1), saturday, NOW)
        start, end = local_hours(session.get_one(Slot, booking.slot_id))
        assert dt.time(7) <= start and end <= dt.time(21)
        # Asking for the night is the visitor's own choice, and it is granted.
        night = book_by_preference(session, ROOM, contact(2),
                                   SlotPreference(hours=(1, 4)), NOW)
        assert dt.time(1) <= local_hours(session.get_one(Slot, night.slot_id))[0] < dt.time(4)
        late = book_by_preference(session, ROOM, contact(3),
                                  SlotPreference(time_of_day="malam"), NOW)
        assert local_hours(session.get_one(Slot, late.slot_id))[0] >= dt.time(18)


# --- Races between processes ------------------------------------------------------


def _book_many(url: str, slot_id: int, numbers: list[int], start_at: float,
               same_nik: bool) -> Counter[str]:
    """Run in a separate process: each number books with its own connection, all at once."""
    engine = create_db_engine(url)
    factory = session_factory(engine)

    def attempt(number: int) -> str:
        who = contact(1) if same_nik else contact(number)
        try:
            with factory() as session, session.begin():
                book_slot(session, ROOM, who, slot_id + (number % 4 if same_nik else 0), NOW)
        except BookingError as exc:
            return exc.code
        return "booked"

    time.sleep(max(0.0, start_at - time.time()))
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcome = Counter(pool.map(attempt, numbers))
    engine.dispose()
    return outcome


def _race(database_url: str, slot_id: int, requests: int, same_nik: bool) -> Counter[str]:
    processes = 5
    start_at = time.time() + 2.0  # every process connected and waiting by then
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_book_many, url_of(database_url), slot_id,
                        list(range(1 + p, requests + 1, processes)), start_at, same_nik)
            for p in range(processes)
        ]
        total: Counter[str] = Counter()
        for future in futures:
            total.update(future.result())
    return total


def test_500_concurrent_requests_for_10_places_give_10_bookings(db, database_url) -> None:
    # Meaningful on SQLite too: its writers queue on the database lock, and the
    # conditional UPDATE is what keeps the count right there as well.
    first = slot_ids(db)[0]
    outcome = _race(database_url, first, 500, same_nik=False)
    assert outcome == Counter({"booked": 10, "slot_full": 490})
    with db() as session:
        assert session.get_one(Slot, first).booked == 10
        assert session.scalar(select(func.count()).select_from(Booking)) == 10


def test_one_nik_booking_many_times_at_once_gets_one_booking(db, database_url) -> None:
    first = slot_ids(db)[0]
    outcome = _race(database_url, first, 40, same_nik=True)
    assert outcome == Counter({"booked": 1, "already_booked": 39})
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 1
        assert sum(slot.booked for slot in list_slots(session, ROOM)) == 1
