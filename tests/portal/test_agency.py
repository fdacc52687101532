"""The agency's name, logo and helpdesk are settings, shown on every page and message."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest
import segno
from starlette.testclient import TestClient

from portal.agency import Agency
from portal.app import create_app
from portal.environment import Environment, SettingsError
from portal.notify.messages import KINDS, render_email, render_sms

MOMENT = dt.datetime(2026, 8, 20, 1, 30, tzinfo=dt.UTC)
# Enough for every message kind's template.
CONTEXT = {"name": "Dian", "registration_number": "REG-AAAA-BBBB", "receipt_url": "http://x/k",
           "code": "K7M2-9QXA", "slot_start": MOMENT, "slot_end": MOMENT, "old_start": MOMENT,
           "manage_url": "http://x/m", "book_url": "http://x/b", "resume_url": "http://x/r",
           "claim_deadline": MOMENT, "claim_minutes": 10, "otp": "123456", "minutes": 10,
           "queue_number": 42, "received": MOMENT.isoformat(), "seal_code": "ABCD-EFGH-JKMN-PQRS",
           "verify_url": "http://x/cek-bukti?n=REG&k=ABCD", "position": 3}


def _png(path: Path) -> Path:
    segno.make("logo").save(str(path), kind="png", scale=2)
    return path


def test_agency_settings_are_read_and_checked(tmp_path: Path) -> None:
    logo = _png(tmp_path / "logo.png")
    agency = Agency.read(Environment({
        "ANTREAN_AGENCY_NAME": "  BKD   Provinsi Maluku ",
        "ANTREAN_AGENCY_SHORT_NAME": "BKD Maluku",
        "ANTREAN_AGENCY_LOGO": str(logo), "ANTREAN_HELPDESK_PHONE": "0911 123"}))
    assert agency.name == "BKD Provinsi Maluku" and agency.logo_type == "image/png"
    assert agency.has_helpdesk and not Agency().has_helpdesk
    with pytest.raises(SettingsError, match="svg or .png"):
        Agency.read(Environment({"ANTREAN_AGENCY_LOGO": str(tmp_path / "logo.gif")}))
    with pytest.raises(SettingsError, match="cannot be read"):
        Agency.read(Environment({"ANTREAN_AGENCY_LOGO": str(tmp_path / "missing.svg")}))
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"0" * 300_000)
    with pytest.raises(SettingsError, match="larger than"):
        Agency.read(Environment({"ANTREAN_AGENCY_LOGO": str(big)}))


def test_every_page_names_the_agency_and_its_helpdesk(settings, tmp_path: Path) -> None:
    agency = Agency(name="BKD Provinsi Maluku", short_name="BKD Maluku",
                    registration="Pendataan Non-ASN Maluku", logo=_png(tmp_path / "l.png"),
                    helpdesk_phone="0911 352 000", helpdesk_email="bantuan@bkd.malukuprov.go.id")
    with TestClient(create_app(replace(settings, agency=agency))) as client:
        pages = [client.get(path) for path in ("/", "/booking", "/kwitansi", "/cek-bukti",
                                               "/booking/cek", "/?lang=en")]
        logo = client.get("/logo")
    for page in pages:
        assert page.status_code == 200, page.url
        assert agency.name in page.text and agency.registration in page.text, page.url
        assert 'href="tel:0911352000"' in page.text and agency.helpdesk_email in page.text
        assert "Non-ASN Antrean" not in page.text
    assert logo.content == agency.logo.read_bytes()
    assert logo.headers["content-type"] == "image/png" and "max-age" in logo.headers[
        "cache-control"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_message_names_the_agency(kind: str) -> None:
    agency = Agency(name="BKD Provinsi Maluku", short_name="BKD Maluku",
                    helpdesk_phone="0911 352 000")
    mail = render_email(kind, CONTEXT, "Asia/Jayapura", agency)
    assert agency.name in mail.html and agency.name in mail.text
    assert agency.helpdesk_phone in mail.html and agency.helpdesk_phone in mail.text
    assert render_sms(kind, CONTEXT, "Asia/Jayapura", agency).startswith("BKD Maluku: ")
    # Every time in a message is in the registration's zone, labelled.
    sms = render_sms(kind, CONTEXT, "Asia/Jayapura", agency)
    for part in (mail.subject, mail.text, mail.html, sms):
        assert "UTC" not in part and "+00:00" not in part and "WIB" not in part
        # 01.30 UTC is 10.30 in Jayapura: every clock shown is that one, labelled WIT.
        for clock in re.findall(r"\b\d{2}[.:]\d{2}\b(?: [A-Z]+)?", part):
            assert clock == "10.30 WIT", (kind, clock)
