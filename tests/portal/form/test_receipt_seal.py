"""A receipt that proves itself: the agency, the person, the time with its zone, the
documents, and a seal anyone can check at /cek-bukti; also as a PDF."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import pypdf
import segno
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from portal.agency import Agency
from portal.app import create_app
from portal.form.seal import normalise_code, seal_code, verify_url
from portal.notify.messages import render_email, render_sms
from tests.portal.form.test_receipts import submitted
from tests.support.form import VALID

AGENCY = Agency(name="Badan Kepegawaian Daerah Provinsi Banten", short_name="BKD Banten",
                registration="Pendataan Non-ASN 2026", helpdesk_phone="0254 123456",
                helpdesk_email="bantuan@bkd.bantenprov.go.id", helpdesk_hours="08.00–16.00 WIB",
                address="Jl. Syekh Nawawi Al-Bantani, Serang")


def _seal(page: str) -> tuple[str, str]:
    number = re.search(r'id="registration-number">([^<]+)<', page)
    code = re.search(r'id="seal-code">([^<]+)<', page)
    assert number and code, page[:400]
    return number.group(1), code.group(1)


def _check(client: TestClient, number: str, code: str):
    return client.get("/cek-bukti", params={"n": number, "k": code})


def test_the_receipt_names_the_agency_the_person_and_the_documents(settings) -> None:
    settings = replace(settings, agency=AGENCY)
    with TestClient(create_app(settings)) as client:
        submitted(client)
        page = client.get("/kwitansi")
        logo = client.get("/logo")
    html = page.text
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    for shown in (AGENCY.name, AGENCY.registration, AGENCY.address, AGENCY.helpdesk_phone,
                  AGENCY.helpdesk_email, VALID["nama"], "Surat Keputusan (SK) pengangkatan",
                  "Ijazah pendidikan terakhir", "sk.pdf"):
        assert shown in html, shown
    # The NIK masked, never whole; the upload form's labels are not document names.
    nik = re.search(r'id="receipt-nik">([^<]+)<', html)
    assert nik and nik.group(1) == "*" * 12 + VALID["nik"][-4:]
    assert VALID["nik"] not in html and "Unggah SK" not in html
    # The time written out, in the zone, labelled; dates not in ISO form.
    received = re.search(r'id="received">([^<]+)<', html)
    assert received and re.fullmatch(r"\w+, \d{1,2} \w+ \d{4} pukul \d{2}\.\d{2} WIB",
                                      received.group(1)), received
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", html)
    assert re.search(r"SHA-256 [0-9a-f]{64}", html)
    assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")


def test_anyone_can_check_a_receipt_and_a_forged_one_is_recognised(settings) -> None:
    with TestClient(create_app(settings)) as owner:
        submitted(owner)
        number, code = _seal(owner.get("/kwitansi").text)
        page = owner.get("/kwitansi").text
    # The QR code holds the public check of exactly this receipt, at the public URL.
    url = verify_url(settings.notify.public_url, number, code)
    qr = segno.make(url, error="m").svg_inline(scale=4, border=2, title="QR", dark="#000",
                                                light="#fff")
    assert qr in page
    with TestClient(create_app(settings)) as official:  # no cookie, no account
        genuine = _check(official, number, code)
        assert genuine.status_code == 200 and "Bukti ini sah" in genuine.text
        assert VALID["nama"] in genuine.text and VALID["nik"] not in genuine.text
        # Typed by hand: lower case, spaces instead of dashes.
        typed = _check(official, number.lower(), code.lower().replace("-", " "))
        assert typed.status_code == 200 and "Bukti ini sah" in typed.text
        # One character changed in the code, or a real code on another number.
        wrong = code[:-1] + ("A" if code[-1] != "A" else "B")
        forged = _check(official, number, wrong)
        unknown = _check(official, "REG-AAAA-AAAA", code)
        assert forged.status_code == unknown.status_code == 404
        assert 'id="mismatch"' in forged.text and VALID["nama"] not in forged.text

        def plain(body: str, *values: str) -> str:
            for value in values:
                body = body.replace(value, "V")
            return re.sub(r'name="csrf_token" value="[^"]+"', "", body)

        # An unknown number reads exactly like a wrong code: no oracle for numbers.
        assert plain(forged.text, number, normalise_code(wrong)) == plain(
            unknown.text, "REG-AAAA-AAAA", code)
        # Nothing asked: the form; the check works without JavaScript (a GET form).
        empty = official.get("/cek-bukti")
        assert empty.status_code == 200 and 'action="/cek-bukti"' in empty.text


def test_the_seal_signs_the_stored_record(settings) -> None:
    with TestClient(create_app(settings)) as owner:
        submitted(owner)
        number, code = _seal(owner.get("/kwitansi").text)
    engine = create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE submissions SET name = 'Orang Lain' "
                                "WHERE registration_number = :n"), {"n": number})
    engine.dispose()
    with TestClient(create_app(settings)) as official:
        assert _check(official, number, code).status_code == 404
    # Another portal's key issues other codes: a receipt made elsewhere does not pass.
    other = replace(settings, secret_key=type(settings.secret_key)("x" * 48))
    with TestClient(create_app(other)) as official:
        assert _check(official, number, code).status_code == 404


def test_the_receipt_as_pdf(settings, tmp_path: Path) -> None:
    settings = replace(settings, agency=AGENCY)
    with TestClient(create_app(settings)) as client:
        assert client.get("/kwitansi.pdf", follow_redirects=False).status_code == 303
        submitted(client)
        number, code = _seal(client.get("/kwitansi").text)
        english = client.get("/kwitansi.pdf?lang=en")
        answer = client.get("/kwitansi.pdf?lang=id")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert f'filename="bukti-{number}.pdf"' in answer.headers["content-disposition"]
    reader = pypdf.PdfReader(io.BytesIO(answer.content))
    assert reader.pages[0].mediabox.width == 595.28  # A4 in points
    words = " ".join(page.extract_text() for page in reader.pages)
    words = " ".join(words.split())
    for shown in (AGENCY.name, number, code, VALID["nama"], "*" * 12 + VALID["nik"][-4:],
                  "Surat Keputusan (SK) pengangkatan", "Bukti Pendaftaran", "Bantuan"):
        assert shown in words, shown
    assert VALID["nik"] not in words
    assert re.search(r"pukul \d{2}\.\d{2} WIB", words)
    en = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(
        io.BytesIO(english.content)).pages).split())
    assert "Registration Receipt" in en and "Verification code" in en, en[:300]
    assert "08.00-16.00 WIB" in words  # a dash the PDF fonts lack, written plainly
    assert re.search(r"at \d{2}\.\d{2} WIB", en)
    (tmp_path / "receipt.pdf").write_bytes(answer.content)


def test_the_receipt_message_carries_the_seal_and_the_agency(settings) -> None:
    settings = replace(settings, agency=AGENCY)
    with TestClient(create_app(settings)) as client:
        submitted(client)
        number, code = _seal(client.get("/kwitansi").text)
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT channel, context FROM notifications WHERE template = 'submission_receipt'"
        )).all()
    engine.dispose()
    assert {row[0] for row in rows} >= {"sms"}
    context = rows[0][1] if isinstance(rows[0][1], dict) else json.loads(rows[0][1])
    assert context["seal_code"] == code
    mail = render_email("submission_receipt", context, settings.timezone, settings.agency)
    for part in (mail.text, mail.html):
        assert code in part and AGENCY.name in part and "WIB" in part
        assert verify_url(settings.notify.public_url, number, code).split("?")[0] in part
        assert AGENCY.helpdesk_phone in part
    sms = render_sms("submission_receipt", context, settings.timezone, settings.agency)
    assert sms.startswith("BKD Banten: ") and number in sms


@given(number=st.from_regex(r"REG-[A-Z2-9]{4}-[A-Z2-9]{4}", fullmatch=True),
       nik=st.from_regex(r"[0-9]{16}", fullmatch=True),
       name=st.text(min_size=1, max_size=40),
       second=st.integers(min_value=1_600_000_000, max_value=2_100_000_000),
       digest=st.from_regex(r"[0-9a-f]{64}", fullmatch=True))
def test_a_seal_changes_with_anything_it_asserts(number, nik, name, second, digest) -> None:
    received = dt.datetime.fromtimestamp(second, dt.UTC)
    data = {"berkas": {"berkas_sk": {"sha256": digest}}}
    code = seal_code("k" * 48, number=number, nik=nik, name=name, received=received, data=data)
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code)
    assert normalise_code(code.lower().replace("-", "")) == code
    # Stored without a zone (SQLite) or with microseconds dropped: the same seal.
    assert seal_code("k" * 48, number=number, nik=nik, name=name,
                     received=received.replace(tzinfo=None), data=data) == code
    changed = [
        seal_code("k" * 48, number=number + "X", nik=nik, name=name, received=received,
                  data=data),
        seal_code("k" * 48, number=number, nik=nik[:-1] + str((int(nik[-1]) + 1) % 10),
                  name=name, received=received, data=data),
        seal_code("k" * 48, number=number, nik=nik, name=name + ".", received=received,
                  data=data),
        seal_code("k" * 48, number=number, nik=nik, name=name,
                  received=received + dt.timedelta(seconds=1), data=data),
        seal_code("k" * 48, number=number, nik=nik, name=name, received=received,
                  data={"berkas": {"berkas_sk": {"sha256": digest[::-1] + "0"}}}),
        seal_code("j" * 48, number=number, nik=nik, name=name, received=received, data=data),
    ]
    assert code not in changed
