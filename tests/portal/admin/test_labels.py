"""Codes as operators read them: known codes labelled, unknown ones readable, values in words."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from portal.admin.durations import duration_text
from portal.admin.labels import label_of
from portal.admin.labels import notifications as notification_labels
from portal.admin.labels.audit import changed_lines, value_text
from portal.admin.show import Show
from portal.i18n import translations
from portal.notify.models import STATUSES
from scheduler.models import Booking
from scheduler.text import Message, Typed, translated

JAKARTA, JAYAPURA = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Jayapura")


def show(lang: str, tz: ZoneInfo = JAKARTA) -> Show:
    catalogue = translations(lang)
    return Show(tz, lang, lambda message: translated(message, catalogue.gettext))


def test_every_notification_status_has_a_label() -> None:
    assert set(notification_labels.STATUS_LABELS) == set(STATUSES)
    english = show("en")
    assert [english.notification_status(s) for s in STATUSES] == [
        "Queued", "Sending", "Sent", "Failed", "Withdrawn"]


def test_every_booking_status_the_schema_allows_has_a_label() -> None:
    allowed = str(next(c.sqltext for c in Booking.__table__.constraints  # type: ignore[attr-defined]
                       if "status_known" in str(getattr(c, "name", ""))))
    english = show("en")
    for code in ("active", "cancelled"):
        assert f"'{code}'" in allowed
        assert english.booking_status(code) != code


@given(st.text(alphabet="abcdefghij_.", min_size=1, max_size=20))
def test_an_unknown_code_is_readable_text(code: str) -> None:
    shown = label_of(code, {})
    assert isinstance(shown, Typed) and "_" not in shown and "." not in shown


def test_reminders_say_how_long_before_the_slot() -> None:
    assert show("id").purpose("booking_reminder_1d") == "Pengingat 1 hari sebelum slot"
    assert show("en").purpose("booking_reminder_90m") == (
        "Reminder 1 hour 30 minutes before the slot")
    assert show("en").purpose("booking_reminder_soon") == "booking reminder soon"


def test_delivery_errors_are_explained_and_unknown_ones_kept() -> None:
    english = show("en")
    assert english.delivery_error("smtp RCPT answered 550") == (
        "The mail server refused at the RCPT step with code 550.")
    assert english.delivery_error("sms gateway answered 503") == (
        "The SMS gateway answered with code 503.")
    assert english.delivery_error("lease expired (worker stopped)").startswith("The background")
    assert english.delivery_error("carrier pigeon lost") == "carrier pigeon lost"
    assert english.delivery_error(None) == "–"
    assert isinstance(notification_labels.error_label("error: KeyError"), Message)


def test_audited_values_read_as_times_durations_and_words() -> None:
    assert value_text("opens_at", 1796169600, JAKARTA, "id") == "2 Des 2026 07.00 WIB"
    assert value_text("opens_at", 1796169600, JAYAPURA, "en") == "2 Dec 2026 09.00 WIT"
    assert value_text("opens_at", 0, JAKARTA, "id") == "tidak ditetapkan"
    assert value_text("window_start", "2026-12-01T01:00:00+00:00", JAKARTA, "id") == (
        "1 Des 2026 08.00 WIB")
    assert value_text("idle_timeout_seconds", 900, JAKARTA, "en") == "15 minutes"
    assert value_text("slot_minutes", 90, JAKARTA, "id") == "1 jam 30 menit"
    assert value_text("max_active", 12000, JAKARTA, "id") == "12.000"
    assert show("en").changes({"paused": True, "role": "viewer", "password": "***"}) == [
        ("Intake paused", "yes"), ("Role", "Viewer"), ("Password", "(hidden)")]
    assert changed_lines(None, JAKARTA, "id") == []


@given(st.integers(min_value=0, max_value=10 * 86400))
def test_a_duration_names_each_unit_once(seconds: int) -> None:
    text = duration_text(seconds, "en")
    words = text.split()
    units = [w.rstrip("s") for w in words[1::2]]
    assert len(units) == len(set(units)) and units == sorted(
        units, key=["day", "hour", "minute", "second"].index)
    amounts = dict(zip(units, (int(w) for w in words[::2]), strict=True))
    assert sum(amounts.get(u, 0) * s for u, s in
               (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))) == seconds


def test_times_carry_the_zone_and_nothing_is_none() -> None:
    assert show("id").time(None) == "–" and show("id").time(0) == "–"
    assert show("en", JAYAPURA).time(1796169600.5) == "2 Dec 2026 09.00 WIT"


def test_a_slot_span_is_labelled_once() -> None:
    start = dt.datetime(2031, 8, 15, 4, tzinfo=dt.UTC)
    assert show("id").span(start, start + dt.timedelta(hours=1)) == "15 Agu 2031 11.00–12.00 WIB"
    assert show("en", JAYAPURA).span(start.replace(tzinfo=None),
                                     start + dt.timedelta(hours=1)) == "15 Aug 2031 13.00–14.00 WIT"


def test_every_kind_of_message_has_a_purpose_in_words() -> None:
    from portal.notify.messages import KINDS

    # Reminders are recorded as "reminder:<offset>" and say how long before the slot.
    assert set(KINDS) - {"booking_reminder"} <= set(notification_labels.PURPOSE_LABELS)
