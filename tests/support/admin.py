"""Shared steps of the admin console tests: accounts, logging in, CSRF tokens."""

from __future__ import annotations

import re

from sqlalchemy import insert, select
from starlette.testclient import TestClient

from portal.admin.auth import create_user
from portal.admin.models import AuditEntry
from portal.db import create_db_engine, session_factory
from portal.form.models import Submission
from portal.settings import Settings

PASSWORD = "kata-sandi-yang-panjang"


def add_user(settings: Settings, username: str, role: str, password: str = PASSWORD) -> None:
    """Create an account straight in the database."""
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            create_user(session, username, role, password, settings.admin.passwords)
            session.commit()
    finally:
        engine.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD,
           expect: int = 303) -> None:
    """Log in through the form; assert the answer's status."""
    page = client.get("/admin/masuk")
    response = client.post("/admin/masuk", data={
        "csrf_token": csrf_of(page.text), "username": username, "password": password,
        "next": "/admin"}, follow_redirects=False)
    assert response.status_code == expect, (response.status_code, response.text[:300])


def post_form(client: TestClient, page_path: str, action: str, data: dict[str, str],
              **kwargs: object):
    """GET a page for its CSRF token, then POST a form to ``action``."""
    page = client.get(page_path)
    return client.post(action, data={"csrf_token": csrf_of(page.text), **data},
                       follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def audit_entries(settings: Settings) -> list[AuditEntry]:
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    finally:
        engine.dispose()


def submission_values(count: int, start: int = 0) -> list[dict[str, object]]:
    return [{
        "registration_number": f"REG-{i:08d}", "idempotency_key": f"key-{i}",
        "nik": f"{3601000000000000 + i}", "name": f"Pegawai {i}",
        "data": {"jabatan": "Operator Sekolah", "telepon": "+62812000000",
                 "unit_kerja": "=HYPERLINK(\"http://x\")" if i == 7 else "Dinas Pendidikan"},
        "queue_number": i,
    } for i in range(start, start + count)]


def insert_submissions(settings: Settings, count: int) -> None:
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            for start in range(0, count, 5000):
                session.execute(insert(Submission),
                                submission_values(min(5000, count - start), start))
            session.commit()
    finally:
        engine.dispose()


def generated_roster(valid: int, bad: int = 0) -> bytes:
    """A roster of ``valid`` distinct valid rows, then ``bad`` rows with a bad phone."""
    lines = ["nik,nama,telepon,email"]
    for i in range(valid + bad):
        # Distinct birth dates (28 x 12 x 30 of them) make distinct NIKs.
        day, month, year = 1 + i % 28, 1 + (i // 28) % 12, 70 + (i // 336) % 30
        phone = f"0812{i:08d}" if i < valid else "12345"
        lines.append(f"360128{day:02d}{month:02d}{year:02d}{1000 + i % 9000:04d},Pegawai {i},"
                     f"{phone},p{i}@contoh.go.id")
    return ("\n".join(lines) + "\n").encode()

