"""Roster upload in the console: counts, the error report, scheduling with a shortfall."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
import time
from dataclasses import replace
from typing import Any

import redis
from rq import Queue, SimpleWorker
from sqlalchemy import func, select
from starlette.testclient import TestClient

from portal.admin.roster_jobs import import_roster
from portal.admin.roster_upload import INLINE_MAX_BYTES
from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.form.uploads import upload_store
from portal.notify.models import Notification
from portal.settings import Settings
from scheduler.models import Booking, Registrant, Slot
from scheduler.store import CapacityRule, regenerate_slots, save_calendar
from tests.support import DATA
from tests.support.admin import (
    add_user,
    audit_entries,
    csrf_of,
    generated_roster,
    log_in,
    post_form,
)
from tests.support.jobs import work_jobs
from tests.support.live_settings import SETTINGS_FORM
from waitroom.config import RoomConfig

SAMPLE = DATA / "roster-sample.csv"
VALID, BAD = 2000 - 78, 78


def upload(client: TestClient, name: str, content: bytes):
    page = client.get("/admin/peserta/unggah")
    return client.post("/admin/peserta/unggah", data={"csrf_token": csrf_of(page.text)},
                       files={"roster": (name, content, "text/csv")})


def count(html: str, name: str) -> int:
    """A count of the report, written the Indonesian way (10.000)."""
    marker = f'id="count-{name}">'
    return int(html.split(marker, 1)[1].split("<", 1)[0].replace(".", ""))


def test_upload_counts_rows_and_offers_the_error_report(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        first = upload(client, "roster-sample.csv", SAMPLE.read_bytes())
        assert first.status_code == 200, first.text[:500]
        assert (count(first.text, "inserted"), count(first.text, "bad")) == (VALID, BAD)
        link = first.text.split('href="/admin/peserta/laporan/', 1)[1].split('"', 1)[0]
        report = client.get(f"/admin/peserta/laporan/{link}")
        assert report.status_code == 200 and report.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
        assert rows[0] == ["baris", "kode", "keterangan", "nik", "nama"] and len(rows) == BAD + 1
        assert all("*" in row[3] or not row[3] for row in rows[1:])  # NIKs masked
        again = upload(client, "roster-sample.csv", SAMPLE.read_bytes())
        assert (count(again.text, "inserted"), count(again.text, "unchanged")) == (0, VALID)
        assert client.get("/admin/peserta/laporan/nope").status_code == 404
    imports = [e for e in audit_entries(settings) if e.action == "roster.import"]
    assert len(imports) == 2 and imports[0].after["inserted"] == VALID  # type: ignore[index]


def test_upload_refuses_other_files_and_forged_forms(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    add_user(settings, "citra", "viewer")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        assert upload(client, "roster.pdf", b"%PDF-1.4").status_code == 422
        unreadable = upload(client, "roster.csv", b"\x00\x01 not a roster")
        assert unreadable.status_code == 422
        forged = client.post("/admin/peserta/unggah", data={"csrf_token": "x"},
                             files={"roster": ("r.csv", b"nik\n", "text/csv")})
        assert forged.status_code == 403
        too_big = client.post("/admin/peserta/unggah", content=b"x",
                              headers={"content-length": str(30 * 1024 * 1024),
                                       "content-type": "multipart/form-data; boundary=b"})
        assert too_big.status_code == 413
    with TestClient(create_app(settings)) as client:
        log_in(client, "citra")
        assert client.get("/admin/peserta/unggah").status_code == 403


def open_one_day(settings: Settings) -> None:
    engine = create_db_engine(settings.database_url)
    now = dt.datetime.now(dt.UTC)
    start = dt.datetime.combine(now.astimezone(settings.tz).date() + dt.timedelta(days=1),
                                dt.time(0), tzinfo=settings.tz)
    room = settings.room_defaults
    try:
        with session_factory(engine)() as session:
            save_calendar(session, settings.room, window_start=start,
                          window_end=start + dt.timedelta(days=1), timezone=settings.timezone,
                          capacity=CapacityRule(room.max_active, room.booked_share,
                                                room.expected_session_minutes))
            regenerate_slots(session, settings.room, now)
            session.commit()
    finally:
        engine.dispose()


def test_schedule_all_books_what_fits_and_shows_the_shortfall(settings: Settings) -> None:
    # A cap of 2 rounds every slot's share down to nothing; 10 gives a day of a few hundred.
    settings = replace(settings, room_defaults=RoomConfig().changed(max_active=10))
    add_user(settings, "ani", "admin")
    add_user(settings, "budi", "operator")
    open_one_day(settings)
    with TestClient(create_app(settings)) as client:
        log_in(client, "ani")
        # An incident lowered the live cap to 1: scheduling still uses the planned 10.
        lowered = post_form(client, "/admin/pengaturan", "/admin/pengaturan",
                            {**SETTINGS_FORM, "max_active": "1"})
        assert lowered.status_code == 200 and 'id="saved"' in lowered.text
        client.cookies.clear()
        log_in(client, "budi")
        upload(client, "roster-sample.csv", SAMPLE.read_bytes())
        page = client.get("/admin/peserta/unggah")
        unchosen = client.post("/admin/peserta/jadwalkan",
                               data={"csrf_token": csrf_of(page.text)})
        assert unchosen.status_code == 422 and 'id="e-beritahu"' in unchosen.text
        response = client.post("/admin/peserta/jadwalkan",
                               data={"csrf_token": csrf_of(page.text), "beritahu": "tidak"})
    assert response.status_code == 200
    assert 'id="shortfall"' in response.text and 'id="notify-none"' in response.text
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        booked = session.scalar(select(func.count()).select_from(Booking))
    engine.dispose()
    # 0.3 * 10 * 30 / 20 = 4 places a slot, and 07:00-21:00 holds 28 of the day's 48 slots.
    assert booked == 28 * 4
    assert all(dt.time(7) <= start and end <= dt.time(21) for start, end in booked_hours(settings))
    # The cap suggested is the planned one scaled up, not the live 1.
    assert f'id="required-cap">Atau naikkan kapasitas rencana di Kalender menjadi ' \
        f'{-(-10 * VALID // booked)} pengguna aktif.' in response.text
    entry = [e for e in audit_entries(settings) if e.action == "roster.schedule"][0]
    assert entry.after["assigned"] == booked  # type: ignore[index]
    assert entry.after["shortfall_places"] > 0  # type: ignore[index]
    assert entry.after["notify"] is False  # type: ignore[index]
    assert queued_jobs(settings) == 0  # nobody is told, so nothing was queued


def booked_hours(settings: Settings) -> list[tuple[dt.time, dt.time]]:
    """The local start and end of every slot someone was given."""
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            return [(slot.start.astimezone(settings.tz).time(),
                     slot.end.astimezone(settings.tz).time())
                    for slot in session.scalars(select(Slot).where(Slot.booked > 0))]
    finally:
        engine.dispose()


def queued_jobs(settings: Settings) -> int:
    client = redis.Redis.from_url(str(settings.redis_url))
    try:
        return Queue("antrean", connection=client).count
    finally:
        client.close()


def test_schedule_all_and_tell_everyone_their_slot(settings: Settings,
                                                   redis_client: redis.Redis) -> None:
    settings = replace(settings, room_defaults=RoomConfig().changed(max_active=10))
    add_user(settings, "budi", "operator")
    open_one_day(settings)
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        upload(client, "roster-sample.csv", SAMPLE.read_bytes())
        page = client.get("/admin/peserta/unggah")
        response = client.post("/admin/peserta/jadwalkan",
                               data={"csrf_token": csrf_of(page.text), "beritahu": "ya"})
    assert response.status_code == 200 and 'id="notify-batch"' in response.text
    work_jobs(settings.notify, redis_client)  # the announcing job, then the messages
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        bookings = session.scalars(select(Booking)).all()
        messages = session.scalars(select(Notification).where(
            Notification.purpose == "slot_assigned")).all()
    engine.dispose()
    assert bookings and all(booking.told_at is not None for booking in bookings)
    assert {m.status for m in messages} == {"sent"}
    assert len({m.reference.split(":", 1)[0] for m in messages}) == len(bookings)
    entry = [e for e in audit_entries(settings) if e.action == "roster.schedule"][0]
    assert entry.after["notify"] is True and entry.after["batch"]  # type: ignore[index]


# --- Large files: the background job ---------------------------------------------------


def registrants(settings: Settings) -> int:
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        total = int(session.scalar(select(func.count()).select_from(Registrant)) or 0)
    engine.dispose()
    return total


def start_upload(client: TestClient, name: str, content: bytes) -> str:
    """Upload a file that goes to the worker; return the import's page."""
    page = client.get("/admin/peserta/unggah")
    response = client.post("/admin/peserta/unggah", data={"csrf_token": csrf_of(page.text)},
                           files={"roster": (name, content, "text/csv")},
                           follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    location = response.headers["location"]
    assert re.fullmatch(r"/admin/peserta/unggah/[0-9a-f]{32}", location)
    return location


def test_a_large_roster_is_imported_by_the_worker_with_progress(
    settings: Settings, redis_client: redis.Redis
) -> None:
    content = generated_roster(10_000, bad=25)
    assert len(content) > INLINE_MAX_BYTES
    add_user(settings, "budi", "operator")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        location = start_upload(client, "roster-besar.csv", content)
        import_id = location.rsplit("/", 1)[1]
        progress_url = f"/admin/api/peserta/unggah/{import_id}"
        stored = settings.var_dir / "uploads" / "roster" / f"{import_id}.csv"
        assert stored.read_bytes() == content
        waiting = client.get(location)
        assert waiting.status_code == 200
        html = waiting.text
        assert '<progress id="import-progress"' in html and 'id="import-result"' not in html
        assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
        assert 'src="/static/admin/roster-progress.js' in html
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and " style=" not in html
        assert client.get(progress_url).json() == {
            "id": import_id, "state": "queued", "done": 0, "total": None, "inserted": 0,
            "updated": 0, "unchanged": 0, "bad": 0, "workers": 0}
        # No worker runs yet: the page says what to start.
        assert re.search(r'<p class="alert" role="alert" id="no-worker">', html)
        worker = SimpleWorker([Queue("antrean", connection=redis_client)],
                              connection=redis_client)
        worker.register_birth()
        try:
            assert client.get(progress_url).json()["workers"] == 1
            assert re.search(r'id="no-worker" hidden>', client.get(location).text)
        finally:
            worker.register_death()
        assert registrants(settings) == 0

        # Poll as the page's script does while the worker runs in this thread.
        seen: list[dict[str, Any]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                seen.append(client.get(progress_url).json())
                time.sleep(0.01)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            started = time.perf_counter()
            work_jobs(settings.notify, redis_client)
            took = time.perf_counter() - started
        finally:
            stop.set()
            poller.join()
        final = client.get(progress_url).json()
        assert final == {"id": import_id, "state": "done", "done": 10_025, "total": 10_025,
                         "inserted": 10_000, "updated": 0, "unchanged": 0, "bad": 25}
        done_values = [body["done"] for body in seen]
        assert done_values == sorted(done_values)  # the bar never goes back
        assert {body["state"] for body in seen} <= {"queued", "running", "done"}
        print(f"10,025 rows through the job in {took:.2f} s")

        result = client.get(location)
        assert result.status_code == 200 and 'id="import-job"' not in result.text
        assert (count(result.text, "inserted"), count(result.text, "bad")) == (10_000, 25)
        assert "Nomor HP tidak valid" in result.text and "roster-besar.csv" in result.text
        report = client.get(f"/admin/peserta/laporan/{import_id}")
        rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
        assert len(rows) == 26 and {row[1] for row in rows[1:]} == {"phone_invalid"}
        assert rows[1][0] == "10002"  # row 1 is the header, so the 10,001st person is row 10,002
        assert not stored.exists()  # the roster is not kept once imported
        assert registrants(settings) == 10_000

        # The same import again (a retried job) changes nothing and keeps its report.
        engine = create_db_engine(settings.database_url)
        again = import_roster(redis_client, session_factory(engine), upload_store(settings),
                              settings.redis_prefix, import_id)
        engine.dispose()
        assert again is not None and (again.state, again.inserted) == ("done", 10_000)
        # The same file uploaded again: every row is already there.
        second = start_upload(client, "roster-besar.csv", content)
        work_jobs(settings.notify, redis_client)
        repeated = client.get(second).text
        assert (count(repeated, "inserted"), count(repeated, "unchanged")) == (0, 10_000)
    assert registrants(settings) == 10_000
    imports = [e for e in audit_entries(settings) if e.action == "roster.import"]
    assert [(e.actor, e.target, e.after["inserted"], e.after["bad"])  # type: ignore[index]
            for e in imports] == [("budi", "roster-besar.csv", 10_000, 25),
                                  ("budi", "roster-besar.csv", 0, 25)]


def test_an_unreadable_large_file_ends_as_a_failed_import_with_a_message(
    settings: Settings, redis_client: redis.Redis
) -> None:
    add_user(settings, "budi", "operator")
    not_excel = b"PK\x03\x04" + bytes(range(256)) * 2600
    no_nik_column = b"nama,telepon\n" + b"Pegawai,081234567890\n" * 30_000
    assert min(len(not_excel), len(no_nik_column)) > INLINE_MAX_BYTES
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        broken = start_upload(client, "roster.xlsx", not_excel)
        headless = start_upload(client, "roster.csv", no_nik_column)
        work_jobs(settings.notify, redis_client)
        for location, message in (
                (broken, "Berkas XLSX rusak atau bukan berkas Excel."),
                (headless, "Kolom wajib tidak ditemukan: nik. Kolom yang terbaca: nama, telepon.")):
            page = client.get(location + "?lang=id")
            assert page.status_code == 200
            assert ('<p class="alert" role="alert" id="import-error">Berkas tidak dapat dibaca '
                    f"sebagai daftar peserta: {message}</p>") in page.text
            assert "<progress" not in page.text and "noscript" not in page.text
            state = client.get("/admin/api/peserta/unggah/" + location.rsplit("/", 1)[1]).json()
            assert state["state"] == "failed" and state["done"] == 0
            english = client.get(location + "?lang=en").text
            assert "Import failed" in english
    assert not list((settings.var_dir / "uploads" / "roster").iterdir())
    assert registrants(settings) == 0
    assert [e for e in audit_entries(settings) if e.action == "roster.import"] == []


def test_imports_are_for_operators_and_unknown_ones_say_so(
    settings: Settings, redis_client: redis.Redis
) -> None:
    add_user(settings, "budi", "operator")
    add_user(settings, "citra", "viewer")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        location = start_upload(client, "roster.csv", generated_roster(9_000))
        progress_url = "/admin/api/peserta/unggah/" + location.rsplit("/", 1)[1]
        missing = client.get("/admin/peserta/unggah/" + "0" * 32)
        assert missing.status_code == 404 and "tidak ditemukan" in missing.text
        assert client.get("/admin/peserta/unggah/..%2F..%2Fsecret_key").status_code == 404
        assert client.get("/admin/api/peserta/unggah/" + "0" * 32).status_code == 404
        client.cookies.clear()
        anonymous = client.get(progress_url)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"]
        assert client.get(location, follow_redirects=False).status_code == 303
        log_in(client, "citra")
        assert client.get(location).status_code == 403
        assert client.get(progress_url).status_code == 403
        page = client.get("/admin")
        refused = client.post("/admin/peserta/unggah", data={"csrf_token": csrf_of(page.text)},
                              files={"roster": ("r.csv", generated_roster(10), "text/csv")})
        assert refused.status_code == 403
    work_jobs(settings.notify, redis_client)
    assert registrants(settings) == 9_000
