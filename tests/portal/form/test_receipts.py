"""The receipt opens in the browser that submitted, and anywhere else once the NIK is proved."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from portal.app import create_app
from portal.browser import RECEIPT_COOKIE
from tests.support.form import FILES, VALID, csrf, enter_form, hidden
from tests.support.identity import latest_code, prove

OWNER_PHONE = "+6289574772415"  # VALID's phone, bound to the NIK when it was proved


def submitted(client: TestClient) -> str:
    form = enter_form(client)
    done = client.post("/formulir", data={**VALID, "csrf_token": csrf(form),
                                          "submit_key": hidden(form, "submit_key")}, files=FILES)
    number = re.search(r'id="registration-number">([^<]+)<', done.text)
    assert number, done.text[:300]
    return number.group(1)


def ask(client: TestClient, nik: str) -> Any:
    page = client.get("/")  # any page: the token belongs to the browser
    return client.post("/kwitansi/kode", data={"csrf_token": csrf(page.text), "nik": nik})


def verify(client: TestClient, nik: str, code: str) -> Any:
    page = client.get("/")  # any page: the token belongs to the browser
    return client.post("/kwitansi/verifikasi", data={"csrf_token": csrf(page.text), "nik": nik,
                                                     "code": code}, follow_redirects=False)


def test_after_submitting_the_form_leads_to_the_receipt(app) -> None:
    with TestClient(app) as client:
        number = submitted(client)
        back = client.get("/formulir")
        receipt = client.get("/kwitansi")
    assert back.status_code == 403 and 'id="submitted"' in back.text
    assert 'href="/kwitansi"' in back.text
    assert number in receipt.text
    # The time is the registration's zone, labelled, in Indonesian format.
    received = re.search(r'id="received">([^<]+)<', receipt.text)
    assert received and re.fullmatch(r"\w+, \d{1,2} \w+ \d{4} pukul \d{2}\.\d{2} WIB",
                                      received.group(1))


def test_another_browser_sees_the_receipt_only_with_the_nik_proved(settings) -> None:
    with TestClient(create_app(settings)) as phone:
        number = submitted(phone)
    with TestClient(create_app(settings)) as stranger:
        # Knowing the NIK: the same answer as for a NIK that never registered, and the
        # code goes to the owner's phone.
        known, unknown = ask(stranger, VALID["nik"]), ask(stranger, "3201010101900001")
        assert known.status_code == unknown.status_code == 202
        assert known.text.replace(VALID["nik"], "N") == unknown.text.replace("3201010101900001",
                                                                             "N")
        code = latest_code(settings.database_url, OWNER_PHONE)
        assert code is not None
        wrong = "000000" if code != "000000" else "111111"
        refused = verify(stranger, VALID["nik"], wrong)
        assert refused.status_code == 422 and number not in refused.text
        assert number not in stranger.get("/kwitansi").text
    with TestClient(create_app(settings)) as laptop:  # the owner, with the code they got
        assert ask(laptop, VALID["nik"]).status_code == 202
        code = latest_code(settings.database_url, OWNER_PHONE)
        assert code is not None
        shown = verify(laptop, VALID["nik"], code)
        assert shown.status_code == 303 and shown.headers["location"] == "/kwitansi"
        assert number in laptop.get("/kwitansi").text
        # Proved now: asking again (the cookie gone) shows it without another code.
        laptop.cookies.delete(RECEIPT_COOKIE)
        again = ask(laptop, VALID["nik"])
        assert again.status_code == 200 and number in again.text
        # A NIK proved in this browser without a registration says so (to its owner only).
        prove(laptop, "3201010101900001", phone="0812-7777-0000")
        none = ask(laptop, "3201010101900001")
        assert none.status_code == 404 and "Belum ada pendaftaran" in none.text
