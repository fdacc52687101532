"""Roster upload in the console: counts, the error report, scheduling with a shortfall."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.settings import Settings
from scheduler.models import Booking
from scheduler.store import CapacityRule, regenerate_slots, save_calendar
from tests.admin_helpers import add_user, csrf_of, log_in
from tests.test_admin_access import audit_entries
from waitroom.config import RoomConfig

SAMPLE = Path(__file__).resolve().parent / "data" / "roster-sample.csv"
VALID, BAD = 2000 - 78, 78


def upload(client: TestClient, name: str, content: bytes):  # type: ignore[no-untyped-def]
    page = client.get("/admin/peserta/unggah")
    return client.post("/admin/peserta/unggah", data={"csrf_token": csrf_of(page.text)},
                       files={"roster": (name, content, "text/csv")})


def count(html: str, name: str) -> int:
    marker = f'id="count-{name}">'
    return int(html.split(marker, 1)[1].split("<", 1)[0])


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
                          window_end=start + dt.timedelta(days=1), timezone=settings.timezone)
            regenerate_slots(session, settings.room,
                             CapacityRule(room.max_active, room.booked_share,
                                          room.expected_session_minutes), now)
            session.commit()
    finally:
        engine.dispose()


def test_schedule_all_books_what_fits_and_shows_the_shortfall(settings: Settings) -> None:
    # A cap of 2 rounds every slot's share down to nothing; 10 gives a day of a few hundred.
    settings = replace(settings, room_defaults=RoomConfig().changed(max_active=10))
    add_user(settings, "budi", "operator")
    open_one_day(settings)
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        upload(client, "roster-sample.csv", SAMPLE.read_bytes())
        page = client.get("/admin/peserta/unggah")
        response = client.post("/admin/peserta/jadwalkan",
                               data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 200
    assert 'id="shortfall"' in response.text
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        booked = session.scalar(select(func.count()).select_from(Booking))
    engine.dispose()
    assert 0 < booked < VALID  # type: ignore[operator]
    entry = [e for e in audit_entries(settings) if e.action == "roster.schedule"][0]
    assert entry.after["assigned"] == booked  # type: ignore[index]
    assert entry.after["shortfall_places"] > 0  # type: ignore[index]
