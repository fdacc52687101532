"""Every console page in Indonesian and English: codes as words, times in the zone, labelled.

A new console page belongs in PAGES, so it is held to the same rules.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import asdict, replace
from email.message import EmailMessage

import pytest
import redis
from starlette.testclient import TestClient

from portal.admin import audit
from portal.admin.apitokens import create_token
from portal.admin.autocap import Decision
from portal.admin.models import AdminUser
from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.identity.models import IdentityContest
from portal.keys import PortalKeys
from portal.notify.channels import OutboxChannel
from portal.notify.models import Notification
from portal.notify.records import recipient_key
from portal.settings import Settings
from scheduler.bookings import Contact, book_slot
from scheduler.calendar import WorkingPlan
from scheduler.store import CapacityRule, list_slots, regenerate_slots, save_calendar
from tests.support.admin import add_user, csrf_of, log_in

NIK, EMAIL, PHONE = "3601284811855133", "dian@example.id", "+6289574772415"
DECIDED_AT = 1796152649  # 2026-12-01 19:17:29 UTC
OPENS_AT = 1796169600  # 2026-12-02 00:00 UTC, 07.00 WIB

# (method, path) of every console page; the planner is held to these rules by its own tests.
PAGES = [
    ("GET", "/admin"),
    ("GET", "/admin/peserta"),
    ("POST", "/admin/peserta"),  # one registrant: booking, submission, notifications
    ("GET", "/admin/peserta/unggah"),
    ("GET", "/admin/notifikasi"),
    ("GET", "/admin/notifikasi?batch=roster-1"),
    ("GET", "/admin/notifikasi/kotak-keluar"),
    ("GET", "outbox message"),
    ("GET", "/admin/ekspor"),
    ("GET", "/admin/pengaturan"),
    ("GET", "/admin/kalender"),
    ("GET", "/admin/pengguna"),
    ("GET", "/admin/token"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/identitas"),
]

# Codes the seed puts on the pages, as each language must say them.
LABELS = [
    ("failed", "Gagal", "Failed"),
    ("sent", "Sudah terkirim", "Sent"),
    ("queued", "Antre", "Queued"),
    ("booking_confirmed", "Konfirmasi pemesanan", "Booking confirmation"),
    ("booking_reminder_1d", "Pengingat 1 hari sebelum slot", "Reminder 1 day before the slot"),
    ("active (booking)", "Berlaku", "Active"),
    ("increase", "Naik: formulir cukup cepat", "Up: the form is fast enough"),
    ("hold", "Tetap: sampel terlalu sedikit", "Kept: too few samples"),
    ("settings.update", "Pengaturan diubah", "Settings changed"),
    ("viewer", "Pemantau", "Viewer"),
    ("smtp RCPT answered 550", "Server e-mail menolak", "The mail server refused"),
]
RAW_CODES = ("booking_confirmed", "booking_reminder_1d", "settings.update", "opens_at",
             "session_ttl_seconds", "smtp RCPT answered", "email_invalid")
RAW_WORDS = ("increase", "hold", "sent", "failed", "queued", "true", "false")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
EPOCH = re.compile(r"(?<![\d.,])1[6-9]\d{8}(?:\.\d+)?(?![\d.,])")
CLOCK = re.compile(r"(?<![\d.,:])\d{2}\.\d{2}(?![\d.,:])")
ZONES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA"}


def visible_text(page: str) -> str:
    """What a reader sees: no scripts, styles, tags or attribute values."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def seed(settings: Settings, client: TestClient) -> None:
    """Booking, notifications, audit entries, a token, a contest, decisions, an outbox message."""
    state = client.app.state.portal  # type: ignore[attr-defined]
    engine = create_db_engine(settings.database_url)
    secret = str(settings.secret_key)
    now = dt.datetime.now(dt.UTC)
    first = dt.datetime.combine(now.astimezone(settings.tz).date() + dt.timedelta(days=1),
                                dt.time(0), tzinfo=settings.tz)
    try:
        with session_factory(engine)() as session:
            save_calendar(session, settings.room, window_start=first,
                          window_end=first + dt.timedelta(days=3),
                          plan=WorkingPlan(tuple(((dt.time(8), dt.time(10)),)
                                                 for _ in range(7))),
                          capacity=CapacityRule(max_active=2, booked_share=0.5,
                                                expected_session_minutes=30))
            regenerate_slots(session, settings.room, now)
            slot = list_slots(session, settings.room)[0]
            book_slot(session, settings.room, Contact(NIK, "Dian Suryana", PHONE, EMAIL),
                      slot.id, now)
            for channel, address, purpose, status, error in (
                    ("email", EMAIL, "booking_confirmed", "failed", "smtp RCPT answered 550"),
                    ("sms", PHONE, "booking_confirmed", "sent", None),
                    ("email", EMAIL, "booking_reminder_1d", "queued", None)):
                session.add(Notification(
                    channel=channel, address=address, purpose=purpose, reference="B-1",
                    recipient_key=recipient_key(secret, channel, address), template="t",
                    context={}, status=status, attempts=1, batch_id="roster-1",
                    last_error=error, sent_at=now if status == "sent" else None))
            audit.record(session, "ani", "settings.update", target="room",
                         before={"opens_at": 0, "paused": False, "session_ttl_seconds": 3600},
                         after={"opens_at": OPENS_AT, "paused": True,
                                "session_ttl_seconds": 5400})
            audit.record(session, "ani", "user.role", target="budi",
                         before={"role": "operator"}, after={"role": "viewer"})
            row, _ = create_token(session, "pemantau", None)
            row.last_used_at = now
            session.add(IdentityContest(nik="3601021210672749", channel="email",
                                        address="lain@example.id", asked_at=now))
            session.commit()
    finally:
        engine.dispose()
    log = PortalKeys.of(state.room.keys).of_room("autocap-log")
    with redis.Redis.from_url(str(settings.redis_url)) as plain:
        for reason, before, after in (("increase", 20, 25), ("hold", 25, 25)):
            plain.lpush(log, json.dumps(asdict(Decision(DECIDED_AT, 180.0, 12, before, after,
                                                        reason))))
    message = EmailMessage()
    message["Subject"], message["To"] = "Jadwal Anda", EMAIL
    message.set_content("Halo Dian.")
    OutboxChannel(state.notify.outbox_dir).send_email(message, 1, lambda: None)


def fetch(client: TestClient, method: str, path: str, lang: str) -> str:
    """One console page in a language (``?lang=``), asserting it answered 200."""
    if path == "outbox message":
        listing = client.get(f"/admin/notifikasi/kotak-keluar?lang={lang}").text
        path = re.findall(r'href="(/admin/notifikasi/kotak-keluar/[^"]+)"', listing)[0]
    joiner = "&" if "?" in path else "?"
    if method == "POST":
        token = csrf_of(client.get(path).text)
        answer = client.post(f"{path}{joiner}lang={lang}", data={"csrf_token": token,
                                                                 "nik": NIK})
    else:
        answer = client.get(f"{path}{joiner}lang={lang}")
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return visible_text(answer.text)


def console_pages(settings: Settings) -> dict[tuple[str, str], str]:
    """Every page of PAGES, in Indonesian and English, as an admin with seeded data sees it."""
    add_user(settings, "ani", "admin")
    add_user(settings, "budi", "viewer")
    pages: dict[tuple[str, str], str] = {}
    with TestClient(create_app(settings)) as client:
        seed(settings, client)
        log_in(client, "budi")  # a login of someone else, listed with its time
        client.cookies.clear()
        log_in(client, "ani")
        for method, path in PAGES:
            for lang in ("id", "en"):
                pages[(f"{method} {path}", lang)] = fetch(client, method, path, lang)
    return pages


def assert_times_readable(pages: dict[tuple[str, str], str], zone: str) -> None:
    for (page, lang), text in pages.items():
        assert not ISO_TIME.search(text), (page, lang, ISO_TIME.search(text))
        assert not EPOCH.search(text), (page, lang, EPOCH.search(text))
        assert "UTC" not in text, (page, lang)
        for clock in CLOCK.finditer(text):
            after = text[clock.end():clock.end() + 6]
            assert after.startswith(f" {zone}") or text[clock.end()] == "–", (
                page, lang, text[max(0, clock.start() - 40):clock.end() + 20])


@pytest.mark.parametrize("timezone", ["Asia/Jakarta", "Asia/Makassar"])
def test_every_console_page_speaks_the_language_and_the_zone(
        settings: Settings, timezone: str) -> None:
    zone = ZONES[timezone]
    pages = console_pages(replace(settings, timezone=timezone))
    assert_times_readable(pages, zone)
    for path in ("GET /admin/pengguna", "GET /admin/token", "GET /admin/audit",
                 "GET /admin/notifikasi", "POST /admin/peserta", "GET /admin/pengaturan",
                 "GET /admin/identitas", "GET /admin/notifikasi/kotak-keluar"):
        for lang in ("id", "en"):
            assert f" {zone}" in pages[(path, lang)], (path, lang)
    settings_page = pages[("GET /admin/pengaturan", "id")]
    decided = dt.datetime.fromtimestamp(DECIDED_AT, dt.UTC).astimezone(
        replace(settings, timezone=timezone).tz)
    assert f"{decided:%H.%M} {zone}" in settings_page
    assert "Des 2026" in pages[("GET /admin/audit", "id")]
    assert "Dec 2026" in pages[("GET /admin/audit", "en")]
    for (page, lang), text in pages.items():
        for code in RAW_CODES:
            assert code not in text, (page, lang, code)
        for word in RAW_WORDS if lang == "id" else ():  # English prose may use these words
            assert not re.search(rf"\b{word}\b", text), (page, lang, word)


def test_codes_are_words_of_the_pages_language(settings: Settings) -> None:
    pages = console_pages(settings)
    every = {lang: " ".join(text for (_, page_lang), text in pages.items() if page_lang == lang)
             for lang in ("id", "en")}
    for code, indonesian, english in LABELS:
        assert indonesian in every["id"], (code, indonesian)
        assert english in every["en"], (code, english)
        for (page, lang), text in pages.items():
            other = english if lang == "id" else indonesian
            assert not re.search(rf"\b{re.escape(other)}\b", text), (page, lang, code, other)
    audit_en = pages[("GET /admin/audit", "en")]
    assert "Opening time: 2 Dec 2026 07.00 WIB" in audit_en
    assert "Session lifetime: 1 hour 30 minutes" in audit_en
    assert "Intake paused: yes" in audit_en
    audit_id = pages[("GET /admin/audit", "id")]
    assert "Waktu buka: 2 Des 2026 07.00 WIB" in audit_id
    assert "Umur sesi: 1 jam 30 menit" in audit_id


def test_an_unknown_code_is_shown_readable(settings: Settings) -> None:
    add_user(settings, "ani", "admin")
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            audit.record(session, "ani", "queue.reshuffle", target="room",
                         after={"shuffle_seed": 7, "mystery_flag": True})
            user = session.query(AdminUser).one()
            user.role = "auditor"  # a role from a later version, say
            session.commit()
    finally:
        engine.dispose()
    with TestClient(create_app(settings)) as client:
        add_user(settings, "ina", "admin")
        log_in(client, "ina")
        text = visible_text(client.get("/admin/audit").text)
        assert "queue reshuffle" in text and "shuffle seed: 7" in text
        assert "mystery flag: ya" in text
        assert "auditor" in visible_text(client.get("/admin/pengguna").text)
