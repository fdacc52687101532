"""One time zone rule on the visitor's pages: every time shown is in the registration's
zone, labelled (WIB, WITA or WIT), in Indonesian (or English) words, never UTC or ISO.

The console's pages have their own test (tests/portal/admin/test_console_pages.py) and
the messages theirs (tests/portal/test_agency.py); this one walks a person's pages with
a time in them: the landing page's closing time, the booking page's slots, the booking
made and looked up, the waiting page and the receipt with its public check.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from tests.portal.form.test_receipts import submitted
from tests.support.apps import make_settings
from tests.support.booking import NIK, make_window, person
from tests.support.identity import ensure_proved

ZONES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
CLOCK = r"\d{1,2}[.:]\d{2}(?!\d)"
# A clock, or a span of two, followed by its zone's label.
LABELLED = re.compile(rf"(?<![\d.]){CLOCK}(?:\s*[–-]\s*{CLOCK})?\s+(WIB|WITA|WIT)\b")
BARE_CLOCK = re.compile(rf"(?<![\d.,]){CLOCK}(?![.,]\d)")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\bUTC\b|\+00:00")


def visible_text(page: str) -> str:
    """What a person reads: no tags, scripts or attribute values."""
    page = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def assert_zone(text: str, label: str, where: str) -> int:
    """Every clock in ``text`` carries ``label``; return how many there were."""
    labels = {m.group(1) for m in LABELLED.finditer(text)}
    assert labels <= {label}, (where, labels)
    rest = LABELLED.sub(" ", text)
    assert not BARE_CLOCK.search(rest), (where, BARE_CLOCK.search(rest), rest[:400])
    assert not ISO.search(text), (where, ISO.search(text))
    return len(LABELLED.findall(text))


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_every_visitor_page_with_a_time_shows_the_zone(
    zone: str, redis_client, redis_url, database_url: str, tmp_path
) -> None:
    label = ZONES[zone]
    settings = replace(make_settings(redis_url, database_url, tmp_path, max_active=2,
                                     closes_at=int(time.time()) + 7 * 86400),
                       timezone=zone)
    assert settings.tz == ZoneInfo(zone)
    slot_id = make_window(settings)[0]["id"]
    shown: dict[str, int] = {}
    with TestClient(create_app(settings)) as client:
        ensure_proved(client, NIK, phone=person()["phone"])
        made = client.post("/api/v1/bookings", json={**person(), "slot_id": slot_id})
        assert made.status_code == 201, made.text
        code = made.json()["code"]
        number = submitted(client)  # the receipt, in the same browser
        receipt = client.get("/kwitansi").text
        seal = re.search(r'id="seal-code">([^<]+)<', receipt)
        assert seal
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/booking/cek").text)
        assert token
        pages = {
            "landing": client.get("/"),
            "landing en": client.get("/?lang=en"),
            "booking": client.get("/booking?lang=id"),
            "booking en": client.get("/booking?lang=en"),
            "booking shown": client.post("/booking/cek?lang=id", data={
                "csrf_token": token.group(1), "nik": NIK, "code": code}),
            "receipt": client.get("/kwitansi"),
            "receipt en": client.get("/kwitansi?lang=en"),
            "check": client.get("/cek-bukti", params={"n": number, "k": seal.group(1)}),
        }
    for where, page in pages.items():
        assert page.status_code == 200, (where, page.status_code)
        shown[where] = assert_zone(visible_text(page.text), label, where)
    # Each page really showed a time (else the check above proves nothing).
    assert all(count >= 1 for count in shown.values()), shown
    # Programs get ISO 8601 with the zone's own offset: unambiguous, and the same zone.
    start = dt.datetime.fromisoformat(made.json()["slot"]["start"])
    assert start.utcoffset() == start.astimezone(ZoneInfo(zone)).utcoffset()


def test_the_checker_catches_what_it_must() -> None:
    assert_zone("Dibuka 2 Des 2026 08.00 WITA, jam 08.00–08.30 WITA", "WITA", "ok")
    assert_zone("12.345 orang, 0,95 detik, 1.234.567", "WIB", "numbers are not clocks")
    for bad in ("Dibuka 08.00", "Dibuka 08.00 WIB", "2026-12-01 18:59", "18:59 UTC"):
        with pytest.raises(AssertionError):
            assert_zone(bad, "WITA", bad)
