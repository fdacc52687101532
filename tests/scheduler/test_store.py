"""The scheduler's SQL side on SQLite and PostgreSQL: roster import, slots, bulk assignment."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from portal.db import create_db_engine, session_factory
from scheduler.assign import _replace_taken_codes, assign_unbooked
from scheduler.bookings import BookingError, Contact, book_slot
from scheduler.calendar import MIDNIGHT, DailyHours, WorkingPlan
from scheduler.codes import ALPHABET, InvalidCode, format_code, new_codes, parse_code
from scheduler.ics import booking_ics
from scheduler.models import Booking, Registrant, Slot
from scheduler.roster import parse_roster
from scheduler.store import (
    CapacityRule,
    get_calendar,
    import_registrants,
    list_slots,
    over_capacity_slots,
    plan_from_json,
    plan_to_json,
    regenerate_slots,
    save_calendar,
    unbooked_registrants,
)
from tests.support import DATA
from tests.support.ics import ics_datetime

TODAY = dt.date(2025, 6, 1)
JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=JAKARTA)
ROOM = "main"
# 0.5 * 10 * 30 / 15 = 10 places per 30-minute slot.
RULE = CapacityRule(max_active=10, booked_share=0.5, expected_session_minutes=15)


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield session_factory(engine)
    engine.dispose()


def sample_report():
    return parse_roster((DATA / "roster-sample.csv").read_bytes(), "roster-sample.csv", TODAY)


def two_morning_days(session: Session, **changes: object) -> None:
    """Window of 2 June and 3 June 2025, open 08:00-10:00: 4 slots a day."""
    plan = WorkingPlan(tuple(((dt.time(8), dt.time(10)),) for _ in range(7)))
    values: dict[str, object] = {
        "window_start": dt.datetime(2025, 6, 2, tzinfo=JAKARTA),
        "window_end": dt.datetime(2025, 6, 4, tzinfo=JAKARTA),
        "plan": plan,
        "min_notice_minutes": 60,
        "capacity": RULE,
        **changes,
    }
    save_calendar(session, ROOM, **values)  # type: ignore[arg-type]


def test_sample_roster_imports_its_valid_rows_and_reimport_changes_nothing(db) -> None:
    report = sample_report()
    expected = json.loads((DATA / "roster-sample.csv.expected.json").read_text())
    valid = expected["rows"] - sum(expected["bad_rows_by_reason"].values())
    with db() as session, session.begin():
        counts = import_registrants(session, report)
    assert (counts.inserted, counts.updated, counts.unchanged) == (valid, 0, 0)
    with db() as session, session.begin():
        again = import_registrants(session, report)
        assert session.scalar(select(func.count()).select_from(Registrant)) == valid
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, valid)

    first = report.rows[0]
    changed = replace(report, rows=(replace(first, name="Nama Baru", unit_kerja=""),
                                    *report.rows[1:]))
    with db() as session, session.begin():
        third = import_registrants(session, changed)
        stored = session.scalars(select(Registrant).where(Registrant.nik == first.nik)).one()
        assert (stored.name, stored.unit_kerja) == ("Nama Baru", None)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, valid - 1)


def test_an_import_failing_halfway_leaves_no_rows(db) -> None:
    report = sample_report()

    def fail(done: int, total: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError), db() as session, session.begin():
        import_registrants(session, report, progress=fail)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Registrant)) == 0


def test_calendar_round_trips_and_plan_json_is_stable(db) -> None:
    with db() as session, session.begin():
        two_morning_days(session, extra_holidays={dt.date(2025, 6, 3): "Libur daerah"})
    with db() as session:
        row = get_calendar(session, ROOM)
        assert row is not None
        assert row.window_start == dt.datetime(2025, 6, 1, 17, tzinfo=dt.UTC)
        assert plan_from_json(row.working_plan) == plan_from_json(plan_to_json(
            WorkingPlan(tuple(((dt.time(8), dt.time(10)),) for _ in range(7)))))
        assert row.extra_holidays == {"2025-06-03": "Libur daerah"}


def test_slots_regenerate_without_dropping_bookings_and_flag_over_capacity(db) -> None:
    with db() as session, session.begin():
        two_morning_days(session, extra_holidays={dt.date(2025, 6, 3): "Libur daerah"})
        changes = regenerate_slots(session, ROOM, NOW)
        assert (changes.created, changes.removed, changes.over_capacity) == (8, 0, 0)
    with db() as session:
        slots = list_slots(session, ROOM)
        assert [slot.capacity for slot in slots] == [10] * 4 + [15] * 4  # holiday weight 1.5
        assert slots[4].holiday == "Libur daerah"
        assert slots[0].start == dt.datetime(2025, 6, 2, 1, tzinfo=dt.UTC)
        first, half_past = slots[0].id, slots[1].id
    with db() as session, session.begin():
        for index in range(6):
            contact = Contact(f"360128481185{5100 + index}", "Ani", "+6281234567890", None)
            book_slot(session, ROOM, contact, first if index < 5 else half_past, NOW)
    # The planned cap drops: 4 places per slot, but the 5 people booked keep their place.
    with db() as session, session.begin():
        two_morning_days(session, extra_holidays={dt.date(2025, 6, 3): "Libur daerah"},
                         capacity=replace(RULE, max_active=4))
        changes = regenerate_slots(session, ROOM, NOW)
        assert (changes.created, changes.updated, changes.over_capacity) == (0, 8, 1)
    with db() as session:
        [over] = over_capacity_slots(session, ROOM)
        assert (over.id, over.booked, over.capacity, over.over_capacity) == (first, 5, 4, True)
        assert session.scalar(select(func.count()).select_from(Booking)) == 6
    # Hour-long slots: the :30 slot with a booking is kept (no places), the others go.
    with db() as session, session.begin():
        two_morning_days(session, slot_minutes=60)
        changes = regenerate_slots(session, ROOM, NOW)
        assert (changes.retired_with_bookings, changes.removed) == (1, 3)
    with db() as session:
        kept = session.get_one(Slot, half_past)
        assert (kept.capacity, kept.booked, kept.over_capacity) == (0, 1, True)
        assert session.get_one(Slot, first).capacity == 20
        assert session.scalar(select(func.count()).select_from(Booking)) == 6
        assert len(list_slots(session, ROOM)) == 5


def test_past_slots_are_left_alone(db) -> None:
    with db() as session, session.begin():
        two_morning_days(session)
        regenerate_slots(session, ROOM, NOW)
    later = dt.datetime(2025, 6, 3, 0, tzinfo=JAKARTA)
    with db() as session, session.begin():
        two_morning_days(session, capacity=replace(RULE, max_active=2))
        changes = regenerate_slots(session, ROOM, later)
        assert changes.updated == 4
    with db() as session:
        assert [slot.capacity for slot in list_slots(session, ROOM)] == [10] * 4 + [2] * 4


def test_assignment_respects_capacity_and_reports_the_shortfall(db) -> None:
    with db() as session, session.begin():
        import_registrants(session, sample_report())
        two_morning_days(session)
        regenerate_slots(session, ROOM, NOW)
    with db() as session, session.begin():
        result = assign_unbooked(session, ROOM, NOW)
    registrants = result.registrants
    assert (result.assigned, result.unassigned, result.slots_used) == (80, registrants - 80, 8)
    assert result.shortfall is not None and result.shortfall.places == registrants - 80
    assert result.shortfall.extra_days == -(-(registrants - 80) // 40)
    with db() as session:
        per_slot = dict(session.execute(
            select(Booking.slot_id, func.count()).group_by(Booking.slot_id)).all())
        for slot in list_slots(session, ROOM):
            assert slot.booked == per_slot[slot.id] == slot.capacity
        codes = session.scalars(select(Booking.code)).all()
        assert len(set(codes)) == 80 and all(len(code) == 8 for code in codes)
        assert unbooked_registrants(session) == registrants - 80


def test_assignment_places_everyone_when_capacity_allows_and_runs_once(db) -> None:
    with db() as session, session.begin():
        import_registrants(session, sample_report())
        two_morning_days(session, capacity=replace(RULE, max_active=500))
        regenerate_slots(session, ROOM, NOW)
    with db() as session, session.begin():
        # Someone booked themselves first: the bulk run leaves them where they are.
        nik = session.scalars(select(Registrant.nik).order_by(Registrant.id)).first()
        assert nik is not None
        last_slot = list_slots(session, ROOM)[-1].id
        book_slot(session, ROOM, Contact(nik, "X", None, None), last_slot, NOW)
    with db() as session, session.begin():
        result = assign_unbooked(session, ROOM, NOW)
    assert result.unassigned == 0 and result.shortfall is None
    with db() as session:
        total = session.scalar(select(func.count()).select_from(Registrant))
        assert result.assigned == total - 1
        by_day = dict(session.execute(
            select(Slot.day, func.sum(Slot.booked)).group_by(Slot.day)).all())
        # Even days: each day within one of half the registrants.
        assert abs(by_day[dt.date(2025, 6, 2)] - by_day[dt.date(2025, 6, 3)]) <= 1
        for slot in list_slots(session, ROOM):
            assert slot.booked <= slot.capacity
        # Roster order is time order: ids, slots and codes were written lined up.
        starts = session.scalars(
            select(Slot.start).join(Booking, Booking.slot_id == Slot.id)
            .where(Booking.source == "assigned").order_by(Booking.registrant_id)).all()
        assert len(starts) == result.assigned and starts == sorted(starts)
    with db() as session, session.begin():
        assert assign_unbooked(session, ROOM, NOW).registrants == 0


def test_booking_codes_are_short_unambiguous_and_forgiving() -> None:
    codes = new_codes(5000)
    assert len(set(codes)) == 5000
    assert all(len(code) == 8 and set(code) <= set(ALPHABET) for code in codes)
    assert not set("ILOU") & set("".join(codes))
    assert format_code("K7M29QXA") == "K7M2-9QXA"
    assert parse_code(" k7m2-9qxa ") == "K7M29QXA"
    assert parse_code("1o1l-0000") == "10110000"  # look-alikes read as the digits meant
    for bad in ("K7M2-9QX", "K7M2-9QXAA", "K7M2-9QXU", ""):
        with pytest.raises(InvalidCode):
            parse_code(bad)


def test_every_symbol_is_as_likely_as_any_other_in_every_place_of_a_code() -> None:
    # 50,000 codes: each of the 32 symbols is expected 1,562.5 times in each place
    # (a standard deviation of about 39). A symbol drawn half as often again, as
    # one that three of the 64 base64 symbols mapped onto would be, is far outside.
    codes = new_codes(50_000)
    for place in range(8):
        counts = Counter(code[place] for code in codes)
        assert set(counts) == set(ALPHABET)
        assert all(0.8 * 1562.5 < count < 1.2 * 1562.5 for count in counts.values())


def test_ics_parses_back_with_the_slot_code_and_url() -> None:
    start = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)
    data = booking_ics("K7M29QXA", start, start + dt.timedelta(minutes=30),
                       "https://antrean.example.id/booking/cek")
    calendar = Calendar.from_ical(data)
    [event] = calendar.walk("VEVENT")
    assert ics_datetime(event, "dtstart") == start
    assert ics_datetime(event, "dtstart").utcoffset() == dt.timedelta(hours=7)
    assert str(ics_datetime(event, "dtstart").tzinfo) == "Asia/Jakarta"
    assert ics_datetime(event, "dtend") - ics_datetime(event, "dtstart") == dt.timedelta(minutes=30)
    assert "K7M2-9QXA" in str(event["description"])
    assert str(event["url"]) == "https://antrean.example.id/booking/cek"
    assert calendar.walk("VTIMEZONE")



def test_mailed_invites_name_organizer_and_attendee_and_a_cancel_drops_the_alarm() -> None:
    start = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)
    changed = dt.datetime(2025, 6, 1, 5, 0, tzinfo=dt.UTC)
    end = start + dt.timedelta(minutes=30)
    portal_url = "https://antrean.example.id/booking/cek"
    organizer = "Antrean BKD <noreply@bkd.example.go.id>"
    request = Calendar.from_ical(booking_ics("K7M29QXA", start, end, portal_url, stamp=changed,
                                             sequence=1, organizer=organizer,
                                             attendee="siti@example.com"))
    cancel = Calendar.from_ical(booking_ics("K7M2-9QXA", start, end, portal_url, stamp=changed,
                                            sequence=2, cancelled=True, organizer=organizer,
                                            attendee="siti@example.com"))
    assert (request["method"], cancel["method"]) == ("REQUEST", "CANCEL")
    [invite], [cancelled] = request.walk("VEVENT"), cancel.walk("VEVENT")
    assert str(invite["uid"]) == str(cancelled["uid"]) == "K7M29QXA@antrean"
    assert (invite["sequence"], cancelled["sequence"]) == (1, 2)
    assert (invite["status"], cancelled["status"]) == ("CONFIRMED", "CANCELLED")
    for event in (invite, cancelled):
        assert str(event["organizer"]) == "mailto:noreply@bkd.example.go.id"
        assert event["organizer"].params["CN"] == "Antrean BKD"
        assert str(event["attendee"]) == "mailto:siti@example.com"
        assert event["attendee"].params["RSVP"] == "FALSE"
        assert ics_datetime(event, "dtstamp") == changed
        assert ics_datetime(event, "last-modified") == changed
    assert invite.walk("VALARM") and not cancelled.walk("VALARM")


def test_the_download_names_no_attendee_and_starts_at_sequence_zero() -> None:
    start = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)
    calendar = Calendar.from_ical(booking_ics("K7M29QXA", start, start + dt.timedelta(minutes=30),
                                              "https://antrean.example.id/booking/cek"))
    [event] = calendar.walk("VEVENT")
    assert calendar["method"] == "PUBLISH"
    assert event["sequence"] == 0 and "attendee" not in event and "organizer" in event

def test_a_booking_outside_the_roster_neither_joins_it_nor_speaks_for_the_nik(db) -> None:
    report = sample_report()
    stranger = report.rows[0]
    rest = replace(report, rows=report.rows[1:])
    with db() as session, session.begin():
        import_registrants(session, rest)
        two_morning_days(session, capacity=replace(RULE, max_active=500))
        regenerate_slots(session, ROOM, NOW)
    on_roster = len(rest.rows)
    with db() as session, session.begin():
        slot = list_slots(session, ROOM)[0].id
        booking = book_slot(session, ROOM, Contact(stranger.nik, "X", "+6281200000001", None),
                            slot, NOW)
        row = session.get(Registrant, booking.registrant_id)
        assert row is not None and not row.on_roster
        assert unbooked_registrants(session) == on_roster  # the booker is not on the roster
    with db() as session, session.begin():
        cancel = session.get(Booking, booking.id)
        assert cancel is not None
        cancel.status = "cancelled"
        session.flush()
        # Bulk scheduling is for the roster: the cancelled stranger is not given a slot.
        assert assign_unbooked(session, ROOM, NOW).registrants == on_roster
    with db() as session, session.begin():
        import_registrants(session, report)  # the agency adds the person to its roster
    with db() as session:
        row = session.scalars(select(Registrant).where(Registrant.nik == stranger.nik)).one()
        assert row.on_roster and row.phone == (stranger.phone_e164 or None)


def all_day(session: Session, **changes: object) -> None:
    """Window of 2 June and 3 June 2025 open around the clock, as a new calendar is."""
    two_morning_days(session, plan=WorkingPlan(), **changes)


def local_span(slot: Slot) -> tuple[dt.time, dt.time]:
    return slot.start.astimezone(JAKARTA).time(), slot.end.astimezone(JAKARTA).time()


def test_assignment_keeps_to_the_assignment_hours_and_the_shortfall_follows(db) -> None:
    with db() as session, session.begin():
        import_registrants(session, sample_report())
        all_day(session)
        regenerate_slots(session, ROOM, NOW)
        row = get_calendar(session, ROOM)
        assert row is not None and (row.assign_start, row.assign_end) == ("07:00", "21:00")
    with db() as session, session.begin():
        result = assign_unbooked(session, ROOM, NOW)
    # 07:00-21:00 holds 28 of the day's 48 slots, 10 places each, on two days.
    registrants = result.registrants
    assert (result.assigned, result.slots_used) == (2 * 28 * 10, 56)
    short = result.shortfall
    assert short is not None and short.places == registrants - 560
    assert short.average_daily_capacity == 280
    assert short.extra_days == -(-(registrants - 560) // 280)
    # The planned cap (10) scaled by what is needed over what the hours hold.
    assert short.required_max_active == -(-10 * registrants // 560)
    with db() as session:
        used = session.scalars(select(Slot).join(Booking, Booking.slot_id == Slot.id)
                               .distinct()).all()
        assert used and all(dt.time(7) <= start and end <= dt.time(21) and end != MIDNIGHT
                            for start, end in map(local_span, used))
        night = [slot for slot in list_slots(session, ROOM)
                 if not dt.time(7) <= local_span(slot)[0] < dt.time(21)]
        assert len(night) == 2 * 20 and all(slot.booked == 0 < slot.capacity for slot in night)
    # Someone booking themselves may still take a night slot.
    three = dt.datetime(2025, 6, 3, 3, tzinfo=JAKARTA)
    with db() as session, session.begin():
        slot_id = session.scalars(select(Slot.id).where(Slot.start == three)).one()
        booking = book_slot(session, ROOM, Contact("3601284811855100", "Ani", None, None),
                            slot_id, NOW)
    with db() as session:
        assert session.get_one(Slot, booking.slot_id).booked == 1


def test_assignment_hours_may_run_to_midnight(db) -> None:
    evening = DailyHours.parse("18:00-24:00")
    with db() as session, session.begin():
        import_registrants(session, sample_report())
        all_day(session, assignment_hours=evening)
        regenerate_slots(session, ROOM, NOW)
    with db() as session, session.begin():
        result = assign_unbooked(session, ROOM, NOW)
    assert (result.assigned, result.slots_used) == (2 * 12 * 10, 24)
    with db() as session:
        row = get_calendar(session, ROOM)
        assert row is not None and (row.assign_start, row.assign_end) == ("18:00", "00:00")
        spans = [local_span(slot) for slot in session.scalars(
            select(Slot).where(Slot.booked > 0).order_by(Slot.start))]
    assert spans[0] == (dt.time(18), dt.time(18, 30))
    assert spans[-1] == (dt.time(23, 30), MIDNIGHT)  # the last slot ends at midnight


def test_slots_are_sized_by_the_calendars_planned_capacity(db) -> None:
    planned = CapacityRule(max_active=40, booked_share=0.25, expected_session_minutes=10)
    with db() as session, session.begin():
        two_morning_days(session, capacity=planned)
        regenerate_slots(session, ROOM, NOW)
    with db() as session:
        row = get_calendar(session, ROOM)
        assert row is not None
        assert (row.planned_max_active, row.planned_booked_share,
                row.planned_session_minutes) == (40, 0.25, 10.0)
        # 0.25 * 40 * 30 / 10 = 30 places a slot.
        assert {slot.capacity for slot in list_slots(session, ROOM)} == {30}
    for bad in ({"max_active": 0}, {"booked_share": 1.5}, {"expected_session_minutes": 0},
                {"booked_share": float("nan")}):
        with pytest.raises(ValueError):
            replace(planned, **bad)


def test_codes_bookings_already_hold_are_replaced_before_anything_is_written(db) -> None:
    # Random codes now and then repeat an older booking's; the run must not fail on it.
    with db() as session, session.begin():
        import_registrants(session, sample_report())
        two_morning_days(session, capacity=replace(RULE, max_active=500))
        regenerate_slots(session, ROOM, NOW)
        nik = session.scalars(select(Registrant.nik).order_by(Registrant.id)).first()
        assert nik is not None
        held = book_slot(session, ROOM, Contact(nik, "X", None, None),
                         list_slots(session, ROOM)[0].id, NOW).code
    # A few codes are looked up; thousands are checked in one pass over bookings.
    for count in (5, 3000):
        codes = [*new_codes(count - 1), held]
        others = codes[:-1]
        with db() as session, session.begin():
            raw = session.connection().connection.dbapi_connection
            _replace_taken_codes(raw, session.get_bind().dialect.name == "postgresql", codes)
        assert codes[:-1] == others and codes[-1] != held
        assert len(set(codes)) == count and set(codes[-1]) <= set(ALPHABET)


def roster_with_room(db: sessionmaker[Session]) -> tuple[list[str], int]:
    """The sample roster and two mornings of 500-place slots; the NIKs and the last slot."""
    with db() as session, session.begin():
        import_registrants(session, sample_report())
        two_morning_days(session, capacity=replace(RULE, max_active=500))
        regenerate_slots(session, ROOM, NOW)
        niks = list(session.scalars(select(Registrant.nik).order_by(Registrant.id)))
        return niks, list_slots(session, ROOM)[-1].id


def self_booking(db: sessionmaker[Session], nik: str, slot_id: int) -> str:
    """Book as a visitor does, in a transaction of its own; the outcome's code."""
    try:
        with db() as session, session.begin():
            book_slot(session, ROOM, Contact(nik, "X", None, None), slot_id, NOW)
    except BookingError as exc:
        return exc.code
    return "booked"


def assert_one_booking_each_and_counts_kept(db: sessionmaker[Session], people: int) -> None:
    with db() as session:
        active = session.execute(
            select(Booking.registrant_id, Booking.slot_id).where(Booking.status == "active")
        ).all()
        assert len(active) == len({registrant for registrant, _ in active}) == people
        per_slot = Counter(slot for _, slot in active)
        for slot in list_slots(session, ROOM):
            assert slot.booked == per_slot[slot.id] <= slot.capacity


def test_an_assignment_waits_for_a_booking_under_way_and_leaves_that_person_be(db) -> None:
    niks, last_slot = roster_with_room(db)
    # The visitor's place is taken and their transaction still open as the run starts.
    visitor = db()
    visitor.begin()
    own = book_slot(visitor, ROOM, Contact(niks[0], "X", None, None), last_slot, NOW)

    def assign() -> int:
        with db() as session, session.begin():
            return assign_unbooked(session, ROOM, NOW).assigned

    with ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(assign)
        time.sleep(0.5)
        assert not run.done()
        visitor.commit()
        visitor.close()
        assert run.result(timeout=60) == len(niks) - 1
    with db() as session:
        mine = session.get_one(Booking, own.id)
        assert (mine.status, mine.source, mine.slot_id) == ("active", "self", last_slot)
    assert_one_booking_each_and_counts_kept(db, len(niks))


def test_bookings_made_while_an_assignment_is_open_wait_and_see_what_it_wrote(db) -> None:
    niks, last_slot = roster_with_room(db)
    with ThreadPoolExecutor(max_workers=2) as pool:
        with db() as session, session.begin():
            assert assign_unbooked(session, ROOM, NOW).assigned == len(niks)
            on_roster = pool.submit(self_booking, db, niks[1], last_slot)
            stranger = pool.submit(self_booking, db, "3601999999999999", last_slot)
            time.sleep(0.5)
            assert not (on_roster.done() or stranger.done())
        assert on_roster.result(timeout=60) == "already_booked"
        assert stranger.result(timeout=60) == "booked"
    assert_one_booking_each_and_counts_kept(db, len(niks) + 1)
