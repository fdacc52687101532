"""The notification log: masked recipients, re-queueing failed messages, the outbox viewer."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.admin.masking import mask_email, mask_phone
from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.form.models import Registrant
from portal.notify.channels import OutboxChannel
from portal.notify.models import Notification
from portal.notify.records import recipient_key
from portal.settings import Settings
from tests.support.admin import add_user, audit_entries, csrf_of, log_in, post_form

EMAIL, PHONE, NIK = "siti.rahma@example.id", "+6281234567890", "3601284811855133"


def test_addresses_are_masked() -> None:
    assert mask_email(EMAIL) == "s***@example.id"
    assert mask_phone(PHONE) == "+62812****890"
    assert mask_email("no-at-sign") is None and mask_phone("") is None


def add_messages(settings: Settings, registrant: bool = False) -> dict[str, int]:
    secret = str(settings.secret_key)
    engine = create_db_engine(settings.database_url)
    ids = {}
    try:
        with session_factory(engine)() as session:
            if registrant:
                session.add(Registrant(nik=NIK, name="Siti Rahma", unit_kerja="Dinas",
                                       instansi="Pemprov", jabatan="Staf", phone=PHONE,
                                       email=EMAIL))
            for status, channel, address in (("failed", "email", EMAIL),
                                             ("sent", "sms", PHONE)):
                row = Notification(channel=channel, address=address,
                                   recipient_key=recipient_key(secret, channel, address),
                                   purpose="booking_confirmed", reference="ABC", template="t",
                                   context={}, status=status, attempts=4 if status == "failed"
                                   else 1, batch_id="roster-1",
                                   last_error="smtp 550" if status == "failed" else None)
                session.add(row)
                session.flush()
                ids[status] = row.id
            session.commit()
    finally:
        engine.dispose()
    return ids


def status_of(settings: Settings, notification_id: int) -> str:
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            return str(session.scalar(select(Notification.status)
                                      .where(Notification.id == notification_id)))
    finally:
        engine.dispose()


def test_log_lists_filters_and_requeues_failed_messages(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    ids = add_messages(settings)
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        page = client.get("/admin/notifikasi?batch=roster-1")
        assert page.status_code == 200
        assert "s***@example.id" in page.text and "+62812****890" in page.text
        assert EMAIL not in page.text and PHONE not in page.text
        assert 'id="batch-progress"' in page.text
        failed_only = client.get("/admin/notifikasi?status=failed")
        assert f'notification-{ids["failed"]}' in failed_only.text
        assert f'notification-{ids["sent"]}' not in failed_only.text
        resent = client.post(f"/admin/notifikasi/{ids['failed']}/kirim-ulang",
                             data={"csrf_token": csrf_of(page.text)})
        assert resent.status_code == 200
        assert status_of(settings, ids["failed"]) == "queued"
        again = client.post(f"/admin/notifikasi/{ids['sent']}/kirim-ulang",
                            data={"csrf_token": csrf_of(page.text)})
        assert again.status_code == 409
        assert client.post(f"/admin/notifikasi/{ids['failed']}/kirim-ulang",
                           data={"csrf_token": "forged"}).status_code == 403
    entries = [e for e in audit_entries(settings) if e.action == "notification.requeue"]
    assert [e.target for e in entries] == [f"notification:{ids['failed']}"]


def test_roster_page_resends_a_registrants_failed_notices(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    ids = add_messages(settings, registrant=True)
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        found = post_form(client, "/admin/peserta", "/admin/peserta", {"nik": NIK})
        assert "Kirim ulang pemberitahuan" in found.text and "s***@example.id" in found.text
        resent = client.post("/admin/peserta/kirim-ulang",
                             data={"csrf_token": csrf_of(found.text), "nik": NIK})
        assert resent.status_code == 200 and 'id="resent"' in resent.text
        assert status_of(settings, ids["failed"]) == "queued"
        assert status_of(settings, ids["sent"]) == "sent"
        nothing = client.post("/admin/peserta/kirim-ulang",
                              data={"csrf_token": csrf_of(found.text), "nik": NIK})
        assert "sekali per tujuan" in nothing.text
    assert any(e.action == "notification.requeue" and e.target.startswith("registrant:")
               for e in audit_entries(settings))


@pytest.fixture
def outbox(settings: Settings) -> Settings:
    with TestClient(create_app(settings)) as client:
        directory = client.app.state.portal.notify.outbox_dir  # type: ignore[attr-defined]
    channel = OutboxChannel(directory)
    message = EmailMessage()
    message["Subject"], message["To"] = "Jadwal Anda", EMAIL
    message.set_content("Halo Siti, slot Anda Senin 09.00.")
    message.add_alternative("<p>Halo Siti, <b>HTML</b></p>", subtype="html")
    channel.send_email(message, 1, lambda: None)
    channel.send_sms(PHONE, "Slot Anda Senin 09.00.", 2, lambda: None)
    return settings


def test_outbox_viewer_shows_the_plain_text(outbox: Settings) -> None:
    add_user(outbox, "budi", "operator")
    with TestClient(create_app(outbox)) as client:
        log_in(client, "budi")
        listing = client.get("/admin/notifikasi/kotak-keluar")
        assert "Jadwal Anda" in listing.text and "s***@example.id" in listing.text
        assert EMAIL not in listing.text
        names = re.findall(r'href="/admin/notifikasi/kotak-keluar/([^"]+)"', listing.text)
        email_name = next(n for n in names if n.endswith(".eml"))
        message = client.get(f"/admin/notifikasi/kotak-keluar/{email_name}")
        assert "Halo Siti, slot Anda Senin 09.00." in message.text
        assert "HTML" not in message.text  # the plain-text part, not the HTML one
        assert client.get("/admin/notifikasi/kotak-keluar/..%2Fx.eml").status_code == 404
