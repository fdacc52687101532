"""The calendar editor: admins only, validated, a preview that writes nothing, an audited apply."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from portal.admin.calendar_form import format_intervals, parse_day_weights, parse_intervals
from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.settings import Settings
from scheduler.bookings import Contact, book_slot
from scheduler.calendar import MIDNIGHT, WorkingPlan
from scheduler.models import Booking, CalendarSettings, Slot
from scheduler.store import CapacityRule, get_calendar, regenerate_slots, save_calendar
from tests.support.admin import add_user, audit_entries, log_in, post_form
from tests.support.apps import make_settings
from tests.support.live_settings import SETTINGS_FORM

JAKARTA = ZoneInfo("Asia/Jakarta")
INDEPENDENCE_DAY = dt.date(2031, 8, 17)
# Friday 15 to Monday 18 August 2031, open 08:00-10:00: two hour-long slots a day.
FORM = {
    "first_day": "2031-08-15", "last_day": "2031-08-18", "slot_minutes": "60",
    **{f"plan_{weekday}": "08:00-10:00" for weekday in range(7)},
    "holiday_weight": "1.5", "min_notice_minutes": "60", "extra_holidays": "",
    "planned_max_active": "20", "planned_booked_share": "0.3", "planned_session_minutes": "20",
    "assign_start": "07:00", "assign_end": "21:00",
}
# The planned numbers: 0.3 * 20 * 60 / 20 = 18 places an hour, 27 on a holiday.
RULE = CapacityRule(max_active=20, booked_share=0.3, expected_session_minutes=20)


@pytest.fixture
def settings(redis_client: redis.Redis, redis_url: str, database_url: str,
             tmp_path: Path) -> Settings:
    configured = make_settings(redis_url, database_url, tmp_path, max_active=20)
    for name, role in (("ani", "admin"), ("budi", "operator"), ("citra", "viewer")):
        add_user(configured, name, role)
    return configured


@pytest.fixture
def db(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(settings.database_url)
    yield session_factory(engine)
    engine.dispose()


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def table_counts(db: sessionmaker[Session]) -> tuple[int, int, int]:
    with db() as session:
        return count(session, Slot), count(session, Booking), count(session, CalendarSettings)


def seed_morning_with_a_late_booking(db: sessionmaker[Session], room: str) -> str:
    """Save 08:00-12:00 on the same days, make its slots, book the 11:00 slot of the 15th."""
    plan = WorkingPlan(tuple(((dt.time(8), dt.time(12)),) for _ in range(7)))
    with db() as session, session.begin():
        save_calendar(session, room, window_start=dt.datetime(2031, 8, 15, tzinfo=JAKARTA),
                      window_end=dt.datetime(2031, 8, 19, tzinfo=JAKARTA), slot_minutes=60,
                      plan=plan, capacity=RULE)
        regenerate_slots(session, room, dt.datetime.now(dt.UTC))
        eleven = session.scalars(select(Slot.id).where(
            Slot.start == dt.datetime(2031, 8, 15, 11, tzinfo=JAKARTA))).one()
        booking = book_slot(session, room, Contact("3601284811855100", "Ani", None, None),
                            eleven, dt.datetime.now(dt.UTC))
        return booking.code


def test_only_admins_open_the_calendar(settings: Settings, db: sessionmaker[Session]) -> None:
    with TestClient(create_app(settings)) as client:
        anonymous = client.get("/admin/kalender", follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/admin/masuk?next=/admin/kalender"
        for user in ("budi", "citra"):
            client.cookies.clear()
            log_in(client, user)
            assert client.get("/admin/kalender").status_code == 403, user
            refused = post_form(client, "/admin", "/admin/kalender",
                                {**FORM, "action": "terapkan"})
            assert refused.status_code == 403, user
        client.cookies.clear()
        log_in(client, "ani")
        shown = client.get("/admin/kalender")
        english = client.get("/admin/kalender?lang=en").text
    assert shown.status_code == 200
    assert "Registration calendar" in english and "remove from holidays" in english
    today = dt.datetime.now(settings.tz).date()
    html = shown.text
    assert 'href="/admin/kalender" aria-current="page"' in html
    assert f'name="first_day" type="date" value="{today.isoformat()}"' in html
    assert f'name="last_day" type="date" value="{(today + dt.timedelta(days=14)).isoformat()}"' \
        in html
    assert 'name="slot_minutes" type="number" value="30"' in html
    assert 'name="plan_0" type="text" value="00:00-24:00"' in html
    assert 'name="holiday_weight" type="number" value="1.5"' in html
    assert "Hari Raya Natal" in html and 'name="hapus"' in html
    assert table_counts(db) == (0, 0, 0)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"last_day": "2031-08-14"}, "last_day",
     "Tanggal selesai tidak boleh sebelum tanggal mulai."),
    ({"first_day": "2031-02-30"}, "first_day", "Isi dengan tanggal yang benar (TTTT-BB-HH)."),
    ({"slot_minutes": "3"}, "slot_minutes", "Panjang slot harus antara 5 dan 240 menit."),
    ({"slot_minutes": "45"}, "slot_minutes",
     "Slot 45 menit tidak membagi rata jam buka Senin 08:00-10:00."),
    ({"plan_2": "08:00-10:00, 09:30-11:00"}, "plan_2",
     "Rentang 09:30-11:00 tumpang tindih dengan rentang lain."),
    ({"plan_3": "10:00-08:00"}, "plan_3",
     "Rentang 10:00-08:00: jam selesai harus sesudah jam mulai."),
    ({"plan_4": "jam 8"}, "plan_4",
     "Tulis jam buka seperti 08:00-12:00; beberapa rentang dipisah koma."),
    ({"holiday_weight": "11"}, "holiday_weight", "Bobot hari libur harus antara 0 dan 10."),
    ({"extra_holidays": "2031-08-16 Libur daerah\n2031-08-31"}, "extra_holidays",
     "Baris 2: tulis tanggal lalu nama libur, mis. 2025-06-03 Libur daerah."),
    ({"weight_overrides": "2031-08-16 = 2\n2031-08-17 = dua"}, "weight_overrides",
     "Baris 2: tulis tanggal = bobot, mis. 2025-08-17 = 2."),
    ({"weight_overrides": "2031-08-32 = 2"}, "weight_overrides",
     "Baris 1: 2031-08-32 bukan tanggal yang benar (TTTT-BB-HH)."),
    ({"weight_overrides": "2031-08-16 = 2\n\n2031-08-19 = 2"}, "weight_overrides",
     "Baris 3: 2031-08-19 di luar jendela pendaftaran (2031-08-15 s.d. 2031-08-18)."),
    ({"weight_overrides": "2031-08-16 = -1"}, "weight_overrides",
     "Baris 1: bobot harus antara 0 dan 10 (0 menutup hari itu)."),
    ({"weight_overrides": "2031-08-16 = 1000"}, "weight_overrides",
     "Baris 1: bobot harus antara 0 dan 10 (0 menutup hari itu)."),
    ({"weight_overrides": "2031-08-16 = 2\n2031-08-16 = 3"}, "weight_overrides",
     "Baris 2: 2031-08-16 sudah diberi bobot di baris sebelumnya."),
    ({"planned_max_active": "0"}, "planned_max_active",
     "Kapasitas rencana harus antara 1 dan 100.000 pengguna aktif."),
    ({"planned_max_active": "100001"}, "planned_max_active",
     "Kapasitas rencana harus antara 1 dan 100.000 pengguna aktif."),
    ({"planned_max_active": "dua puluh"}, "planned_max_active", "Isi dengan bilangan bulat."),
    ({"planned_max_active": "20.5"}, "planned_max_active", "Isi dengan bilangan bulat."),
    ({"planned_max_active": ""}, "planned_max_active", "Isi dengan bilangan bulat."),
    ({"planned_booked_share": "0"}, "planned_booked_share",
     "Porsi pemesan harus lebih dari 0 dan paling besar 1."),
    ({"planned_booked_share": "1,5"}, "planned_booked_share",
     "Porsi pemesan harus lebih dari 0 dan paling besar 1."),
    ({"planned_booked_share": "nan"}, "planned_booked_share",
     "Porsi pemesan harus lebih dari 0 dan paling besar 1."),
    ({"planned_booked_share": "sepertiga"}, "planned_booked_share", "Isi dengan angka."),
    ({"planned_session_minutes": "0"}, "planned_session_minutes",
     "Lama sesi rata-rata harus lebih dari 0 dan paling lama 240 menit."),
    ({"planned_session_minutes": "inf"}, "planned_session_minutes",
     "Lama sesi rata-rata harus lebih dari 0 dan paling lama 240 menit."),
    ({"planned_session_minutes": "x"}, "planned_session_minutes", "Isi dengan angka."),
    ({"assign_end": "06:00"}, "assign_end", "Jam selesai penjadwalan harus sesudah jam mulai."),
    ({"assign_start": "21:00"}, "assign_end",
     "Jam selesai penjadwalan harus sesudah jam mulai."),
    ({"assign_start": "jam 7"}, "assign_start",
     "Tulis jam seperti 07:00 (24:00 untuk tengah malam)."),
    ({"assign_start": "24:00"}, "assign_start",
     "Tulis jam seperti 07:00 (24:00 untuk tengah malam)."),
    ({"assign_end": "25:00"}, "assign_end",
     "Tulis jam seperti 07:00 (24:00 untuk tengah malam)."),
])
def test_bad_values_are_refused_next_to_their_field(
    settings: Settings, db: sessionmaker[Session], changes: dict[str, str], field: str,
    message: str,
) -> None:
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        refused = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**FORM, **changes, "action": "terapkan"})
    assert refused.status_code == 422
    assert f'<p class="error" id="e-{field}">{message}</p>' in refused.text
    assert table_counts(db) == (0, 0, 0)
    assert [e for e in audit_entries(settings) if e.action == "calendar.update"] == []


def test_preview_reports_bookings_to_move_and_writes_nothing(
    settings: Settings, db: sessionmaker[Session]
) -> None:
    code = seed_morning_with_a_late_booking(db, settings.room)
    before = table_counts(db)
    with db() as session:
        plan_before = get_calendar(session, settings.room).working_plan  # type: ignore[union-attr]
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        shown = post_form(client, "/admin/kalender", "/admin/kalender",
                          {**FORM, "action": "pratinjau"})
    assert shown.status_code == 200, shown.text[:500]
    html = shown.text
    assert 'id="preview"' in html and 'id="applied"' not in html
    # 8 slots: 2 a day, 18 places each, 27 on Independence Day.
    assert '<dd id="total-slots">8</dd>' in html
    assert f'<dd id="total-capacity">{6 * 18 + 2 * 27}</dd>' in html
    # The one booking is by someone off the roster: it counts as a booking, not as the roster.
    assert '<dd id="registrants">0</dd>' in html and '<dd id="active-bookings">1</dd>' in html
    assert "Hari Kemerdekaan Republik Indonesia (bobot 1.5)" in html
    assert "perlu dipindah (slot hilang)" in html and f"<code>{code}</code>" in html
    assert "15 Agu 2031 11.00–12.00 WIB" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and " style=" not in html
    assert table_counts(db) == before
    with db() as session:
        assert get_calendar(session, settings.room).working_plan == plan_before  # type: ignore[union-attr]
    assert [e for e in audit_entries(settings) if e.action == "calendar.update"] == []


def test_apply_regenerates_slots_audits_and_honours_removed_holidays(
    settings: Settings, db: sessionmaker[Session]
) -> None:
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        applied = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**FORM, "action": "terapkan"})
        assert applied.status_code == 200 and 'id="applied"' in applied.text
        with db() as session:
            holiday = [(s.holiday, s.capacity) for s in session.scalars(
                select(Slot).where(Slot.day == INDEPENDENCE_DAY))]
            assert count(session, Slot) == 8
        assert holiday == [("Hari Kemerdekaan Republik Indonesia", 27)] * 2
        removed = post_form(client, "/admin/kalender", "/admin/kalender", {
            **FORM, "hapus": ["2031-08-17"], "action": "terapkan"})  # type: ignore[dict-item]
        assert removed.status_code == 200
        page = client.get("/admin/kalender").text
    assert 'value="2031-08-17" checked' in page
    with db() as session:
        assert [(s.holiday, s.capacity) for s in session.scalars(
            select(Slot).where(Slot.day == INDEPENDENCE_DAY))] == [(None, 18)] * 2
        row = get_calendar(session, settings.room)
        assert row is not None and row.removed_holidays == ["2031-08-17"]
        assert row.window_end == dt.datetime(2031, 8, 19, tzinfo=JAKARTA)
    first, second = [e for e in audit_entries(settings) if e.action == "calendar.update"]
    assert first.actor == "ani" and first.before is None and first.after is not None
    assert first.after["slot_minutes"] == 60 and first.after["removed_holidays"] == []
    assert second.before is not None and second.after is not None
    assert second.before["removed_holidays"] == []
    assert second.after["removed_holidays"] == ["2031-08-17"]


def test_opening_hours_round_trip() -> None:
    intervals, problem = parse_intervals("13:00-16:00, 08:00-12:00")
    assert problem is None
    assert intervals == ((dt.time(8), dt.time(12)), (dt.time(13), dt.time(16)))
    assert format_intervals(intervals) == "08:00-12:00, 13:00-16:00"
    assert parse_intervals("00:00-24:00") == (((MIDNIGHT, MIDNIGHT),), None)
    assert parse_intervals("") == ((), None)
    assert parse_intervals("20:00-24:00, 23:00-23:30")[1] is not None


WEIGHTS = "2031-08-16 = 2\n2031-08-17 = 1\n2031-08-18 = 0"


def day_row(html: str, day: str) -> list[str]:
    """The cells of one day's row in the preview table."""
    row = re.search(rf'<tr[^>]*data-day="{day}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, day
    return [cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]


def test_weights_by_date_show_in_the_preview_then_are_saved_and_audited(
    settings: Settings, db: sessionmaker[Session]
) -> None:
    form = {**FORM, "weight_overrides": WEIGHTS}
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        shown = post_form(client, "/admin/kalender", "/admin/kalender",
                          {**form, "action": "pratinjau"})
        assert shown.status_code == 200, shown.text[:500]
        html = shown.text
        # Friday as usual, Saturday doubled, Independence Day at 1 instead of the holiday
        # 1.5, Monday closed: its two slots keep no place.
        assert day_row(html, "2031-08-15") == ["Jumat, 15-08-2031", "2", "36", "", ""]
        assert day_row(html, "2031-08-16") == ["Sabtu, 16-08-2031", "2", "72", "", "2"]
        assert day_row(html, "2031-08-17") == [
            "Minggu, 17-08-2031", "2", "36", "Hari Kemerdekaan Republik Indonesia", "1"]
        assert day_row(html, "2031-08-18") == ["Senin, 18-08-2031", "2", "0", "", "0 (tutup)"]
        assert f'<dd id="total-capacity">{36 + 72 + 36}</dd>' in html
        assert f">{WEIGHTS}</textarea>" in html
        assert table_counts(db) == (0, 0, 0)
        applied = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**form, "action": "terapkan"})
        assert applied.status_code == 200 and 'id="applied"' in applied.text
        page = client.get("/admin/kalender").text
        assert f">{WEIGHTS}</textarea>" in page
        english = post_form(client, "/admin/kalender", "/admin/kalender?lang=en",
                            {**form, "action": "pratinjau"}).text
        assert "Weights by date" in english and "0 (closed)" in english
        # Deleting a line puts the day back on its usual weight.
        post_form(client, "/admin/kalender", "/admin/kalender", {
            **FORM, "weight_overrides": "2031-08-16 = 2", "action": "terapkan"})
    with db() as session:
        row = get_calendar(session, settings.room)
        assert row is not None and row.weight_overrides == {"2031-08-16": 2.0}
        capacity = {day: sum(s.capacity for s in session.scalars(
            select(Slot).where(Slot.day == day))) for day in (
            dt.date(2031, 8, 16), INDEPENDENCE_DAY, dt.date(2031, 8, 18))}
    assert capacity == {dt.date(2031, 8, 16): 72, INDEPENDENCE_DAY: 54,
                        dt.date(2031, 8, 18): 36}
    first, second = [e for e in audit_entries(settings) if e.action == "calendar.update"]
    assert first.after is not None and first.after["weight_overrides"] == {
        "2031-08-16": 2.0, "2031-08-17": 1.0, "2031-08-18": 0.0}
    assert second.before is not None and second.after is not None
    assert second.before["weight_overrides"] == first.after["weight_overrides"]
    assert second.after["weight_overrides"] == {"2031-08-16": 2.0}


def test_a_refused_weight_keeps_what_was_typed(settings: Settings,
                                               db: sessionmaker[Session]) -> None:
    typed = "2031-08-16 = 2\n2031-08-17 = -3"
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        refused = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**FORM, "weight_overrides": typed, "action": "pratinjau"})
    assert refused.status_code == 422
    html = refused.text
    assert f'aria-describedby="e-weight_overrides">{typed}</textarea>' in html
    assert 'name="first_day" type="date" value="2031-08-15"' in html
    assert 'id="preview"' not in html and table_counts(db) == (0, 0, 0)


def test_weights_by_date_parse_and_read_like_they_are_typed() -> None:
    window = (dt.date(2031, 8, 15), dt.date(2031, 8, 18))
    assert parse_day_weights("2031-08-16 = 2\n\n 2031-08-15: 0 \n2031-08-18 1,5", window) == (
        {dt.date(2031, 8, 15): 0.0, dt.date(2031, 8, 16): 2.0, dt.date(2031, 8, 18): 1.5},
        None)
    assert parse_day_weights("", window) == ({}, None)
    # Without a valid window (its own field is wrong) the dates are still checked.
    assert parse_day_weights("2031-09-01 = 2", None) == ({dt.date(2031, 9, 1): 2.0}, None)
    for bad in ("2031-08-16 = nan", "2031-08-16 = inf", "2031-08-16 =", "= 2"):
        assert parse_day_weights(bad, window)[1] is not None, bad


def slot_capacities(db: sessionmaker[Session]) -> list[tuple[dt.datetime, int]]:
    with db() as session:
        return [(slot.start, slot.capacity) for slot in
                session.scalars(select(Slot).order_by(Slot.start))]


def test_lowering_the_live_cap_leaves_the_slots_and_the_preview_alone(
    settings: Settings, db: sessionmaker[Session]
) -> None:
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        applied = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**FORM, "action": "terapkan"})
        assert applied.status_code == 200 and 'id="live-cap"' not in applied.text
        before = slot_capacities(db)
        assert sorted({capacity for _, capacity in before}) == [18, 27]
        # An incident: the cap goes down to 1 on the settings page.
        saved = post_form(client, "/admin/pengaturan", "/admin/pengaturan",
                          {**SETTINGS_FORM, "max_active": "1"})
        assert saved.status_code == 200 and 'id="saved"' in saved.text
        assert slot_capacities(db) == before
        shown = client.get("/admin/kalender").text
        preview = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**FORM, "action": "pratinjau"})
        again = post_form(client, "/admin/kalender", "/admin/kalender",
                          {**FORM, "action": "terapkan"})
    assert 'id="live-cap"' in shown and "(1)" in shown and "(20)" in shown
    assert 'name="planned_max_active" type="number" value="20"' in shown
    html = preview.text
    assert preview.status_code == 200, html[:500]
    assert f'<dd id="total-capacity">{6 * 18 + 2 * 27}</dd>' in html
    assert 'id="no-affected"' in html and "melebihi kapasitas</td>" not in html
    assert "baru 0 · diubah 0 · dihapus 0" in html
    assert again.status_code == 200 and "diubah: 0" in again.text
    assert slot_capacities(db) == before


def test_planned_numbers_and_assignment_hours_round_trip(
    settings: Settings, db: sessionmaker[Session]
) -> None:
    form = {**FORM, "planned_max_active": "40", "planned_booked_share": "0,25",
            "planned_session_minutes": "15", "assign_start": "9:00", "assign_end": "24:00"}
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        preview = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**form, "action": "pratinjau"})
        # 0.25 * 40 * 60 / 15 = 40 places an hour, 60 on Independence Day; of the
        # 08:00 and 09:00 slots only the 09:00 one lies in the assignment hours.
        assert f'<dd id="total-capacity">{6 * 40 + 2 * 60}</dd>' in preview.text
        assert f'<dd id="assignable-capacity">{3 * 40 + 60}</dd>' in preview.text
        applied = post_form(client, "/admin/kalender", "/admin/kalender",
                            {**form, "action": "terapkan"})
        assert applied.status_code == 200 and 'id="applied"' in applied.text
        page = client.get("/admin/kalender").text
        english = client.get("/admin/kalender?lang=en").text
    for name, value in (("planned_max_active", "40"), ("planned_booked_share", "0.25"),
                        ("planned_session_minutes", "15"), ("assign_start", "09:00"),
                        ("assign_end", "24:00")):
        assert f'name="{name}" type="{"text" if "assign" in name else "number"}" ' \
            f'value="{value}"' in page, name
    assert "Planned capacity" in english and "Automatic scheduling hours" in english
    with db() as session:
        row = get_calendar(session, settings.room)
        assert row is not None
        assert (row.planned_max_active, row.planned_booked_share, row.planned_session_minutes,
                row.assign_start, row.assign_end) == (40, 0.25, 15.0, "09:00", "00:00")
    assert {capacity for _, capacity in slot_capacities(db)} == {40, 60}
    [entry] = [e for e in audit_entries(settings) if e.action == "calendar.update"]
    assert entry.after is not None and entry.after["planned_max_active"] == 40
    assert (entry.after["assign_start"], entry.after["assign_end"]) == ("09:00", "00:00")


def test_a_new_calendar_starts_from_the_start_up_cap_not_the_live_one(
    settings: Settings, db: sessionmaker[Session]
) -> None:
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        post_form(client, "/admin/pengaturan", "/admin/pengaturan",
                  {**SETTINGS_FORM, "max_active": "3"})
        page = client.get("/admin/kalender").text
    assert 'name="planned_max_active" type="number" value="20"' in page  # ANTREAN_MAX_ACTIVE
    assert 'name="planned_booked_share" type="number" value="0.3"' in page
    assert 'name="assign_start" type="text" value="07:00"' in page
    assert 'name="assign_end" type="text" value="21:00"' in page
    assert table_counts(db) == (0, 0, 0)
