"""Pure parts of notifications: settings, rendering, SMS limits, reminder timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.notify.channels import build_sms_request
from portal.notify.dispatch import BookingNotice
from portal.notify.messages import (
    KINDS,
    UnsafeMessage,
    gsm7_length,
    refuse_nik,
    render_email,
    render_sms,
    to_gsm7,
)
from portal.notify.reminders import due_reminders
from portal.notify.settings import NotifySettings, parse_offsets, parse_rates
from portal.settings import SettingsError

START = datetime(2026, 8, 31, 1, 0, tzinfo=UTC)  # 08.00 WIB, the last day
CONTEXT = {
    "name": "Raden Ajeng Siti Nurhaliza Kusumawardhani",
    "code": "BK-7K3F-9Q2M",
    "slot_start": START.isoformat(),
    "slot_end": (START + timedelta(minutes=15)).isoformat(),
    "old_start": (START - timedelta(days=3)).isoformat(),
    "manage_url": "https://pendaftaran.bkd.bantenprov.go.id/jadwal/BK-7K3F-9Q2M",
    "book_url": "https://pendaftaran.bkd.bantenprov.go.id/",
    "queue_number": 12345,
    "resume_url": "https://pendaftaran.bkd.bantenprov.go.id/antre/lanjut/abcdefgh12345678",
    "claim_deadline": START.isoformat(),
    "claim_minutes": 10,
    "registration_number": "REG-7K3F-9Q2M",
    "receipt_url": "https://pendaftaran.bkd.bantenprov.go.id/kwitansi",
    "otp": "493027",
    "minutes": 10,
}


def env(**values: str) -> dict[str, str]:
    return {"ANTREAN_SECRET_KEY": "s" * 40, **values}


def test_outbox_is_the_development_default_and_smtp_turns_it_off(tmp_path: object) -> None:
    base = {"ANTREAN_VAR_DIR": str(tmp_path)}
    assert NotifySettings.from_env(env(**base)).outbox
    assert not NotifySettings.from_env(env(ANTREAN_SMTP_HOST="mail.example", **base)).outbox
    assert NotifySettings.from_env(
        env(ANTREAN_SMTP_HOST="mail.example", ANTREAN_OUTBOX="true", **base)).outbox
    tls = NotifySettings.from_env(env(ANTREAN_SMTP_HOST="m", ANTREAN_SMTP_SECURITY="tls", **base))
    assert tls.smtp_port == 465
    with pytest.raises(SettingsError):
        NotifySettings.from_env(env(ANTREAN_SMTP_SECURITY="ssl3", **base))


def test_offsets_and_rates_are_read_from_short_text() -> None:
    assert parse_offsets("1d,30m") == (timedelta(days=1), timedelta(minutes=30))
    assert parse_offsets("30m, 2h ,1d") == (timedelta(days=1), timedelta(hours=2),
                                           timedelta(minutes=30))
    with pytest.raises(SettingsError):
        parse_offsets("1w")
    assert parse_rates("20") == {"email": 20.0, "sms": 20.0}
    assert parse_rates("email=50,sms=2.5") == {"email": 50.0, "sms": 2.5}
    with pytest.raises(SettingsError):
        parse_rates("fax=1")


@pytest.mark.parametrize("kind", KINDS)
def test_every_message_renders_in_indonesian_and_each_sms_fits_one_segment(kind: str) -> None:
    mail = render_email(kind, CONTEXT, "Asia/Jakarta")
    assert mail.subject and "\n" not in mail.subject
    assert "<html" in mail.html and "<html" not in mail.text
    sms = render_sms(kind, CONTEXT, "Asia/Jakarta")
    length = gsm7_length(sms)
    assert length is not None
    assert length <= 160, (len(sms), sms)


def test_times_are_shown_in_the_registrations_zone() -> None:
    mail = render_email("booking_confirmed", CONTEXT, "Asia/Jakarta")
    assert "Senin, 31 Agustus 2026 pukul 08.00 WIB" in mail.text
    assert "08.15 WIB" in mail.text
    makassar = render_email("booking_confirmed", CONTEXT, "Asia/Makassar")
    assert "pukul 09.00 WITA" in makassar.text


def test_html_part_escapes_what_people_typed() -> None:
    mail = render_email("submission_receipt", {**CONTEXT, "name": "<b>Budi</b>"}, "Asia/Jakarta")
    assert "&lt;b&gt;Budi&lt;/b&gt;" in mail.html
    assert "<b>Budi</b>" in mail.text


@pytest.mark.parametrize("text", ["NIK 3201234567890123", "3201 2345 6789 0123",
                                  "3201-2345-6789-0123", "x3201234567890123456"])
def test_a_sixteen_digit_run_is_refused(text: str) -> None:
    with pytest.raises(UnsafeMessage):
        refuse_nik(text)


def test_phone_numbers_and_times_are_not_mistaken_for_a_nik() -> None:
    refuse_nik("Hubungi +6281234567890 pukul 08.00, kode BK-7K3F-9Q2M")


def test_text_is_folded_into_gsm7() -> None:
    assert to_gsm7("“Jadwal” – Anda…") == '"Jadwal" - Anda...'
    assert gsm7_length("{}") == 4
    assert gsm7_length("日本") is None


def test_sms_request_fills_json_form_and_query_templates() -> None:
    settings = NotifySettings(sms_url="https://gw.example/api?key=k", sms_auth_header=None)
    request = build_sms_request(settings, "+628123", 'Kode "A"&B', "antrean-7")
    assert request.body == b'{"to": "+628123", "message": "Kode \\"A\\"&B"}'
    assert request.headers == {"Content-Type": "application/json"}
    form = NotifySettings(sms_url="https://gw.example/send", sms_content_type="form",
                          sms_body_template="to={to}&text={message}&ref={reference}")
    assert build_sms_request(form, "+628123", "a b&c", "r1").body == \
        b"to=%2B628123&text=a+b%26c&ref=r1"
    get = NotifySettings(sms_url="https://gw.example/send?user=u", sms_method="GET",
                         sms_content_type="form", sms_body_template="to={to}&msg={message}")
    request = build_sms_request(get, "+628123", "hai", "r")
    assert request.url == "https://gw.example/send?user=u&to=%2B628123&msg=hai"
    assert request.body == b""


def booking_at(start: datetime, booked_at: datetime | None = None) -> BookingNotice:
    return BookingNotice("BK-1", start, start + timedelta(minutes=15), "Siti",
                         email="s@example.com", booked_at=booked_at)


OFFSETS = (timedelta(days=1), timedelta(minutes=30))


def test_reminder_timing() -> None:
    b = booking_at(START, booked_at=START - timedelta(days=7))
    assert due_reminders(START - timedelta(days=2), [b], OFFSETS) == []
    [one] = due_reminders(START - timedelta(hours=20), [b], OFFSETS)
    assert one.purpose == "booking_reminder_1d"
    [late] = due_reminders(START - timedelta(minutes=10), [b], OFFSETS)
    assert late.purpose == "booking_reminder_30m"  # the stale 1-day one is not sent now
    assert due_reminders(START, [b], OFFSETS) == []
    booked_late = booking_at(START, booked_at=START - timedelta(hours=2))
    assert due_reminders(START - timedelta(hours=1), [booked_late], OFFSETS) == []
    [r] = due_reminders(START - timedelta(minutes=29), [booked_late], OFFSETS)
    assert r.purpose == "booking_reminder_30m"


@given(
    now_offset=st.integers(min_value=-3 * 86400, max_value=3 * 86400),
    booked_before=st.none() | st.integers(min_value=0, max_value=10 * 86400),
    offsets=st.lists(st.integers(min_value=60, max_value=3 * 86400), min_size=1, max_size=4),
)
def test_due_reminders_never_early_never_after_the_start_at_most_one(
    now_offset: int, booked_before: int | None, offsets: list[int]
) -> None:
    now = START + timedelta(seconds=now_offset)
    booked_at = None if booked_before is None else START - timedelta(seconds=booked_before)
    deltas = [timedelta(seconds=s) for s in offsets]
    due = due_reminders(now, [booking_at(START, booked_at)], deltas)
    assert len(due) <= 1
    for reminder in due:
        assert now < START
        assert START - reminder.offset <= now
        assert booked_at is None or booked_at <= START - reminder.offset
        # no smaller offset is also due (the closest one wins)
        assert not [d for d in deltas if d < reminder.offset and START - d <= now
                    and (booked_at is None or booked_at <= START - d)]


def test_a_sent_code_leaves_its_record() -> None:
    from portal.notify.records import SECRET_CONTEXT_KEYS

    # The one-time code is the only secret a message carries; it is scrubbed once sent.
    assert SECRET_CONTEXT_KEYS == ("otp",)
    mail = render_email("identity_code", CONTEXT, "Asia/Jakarta")
    assert "493027" in mail.subject and "493027" in mail.text
