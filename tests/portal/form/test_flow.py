"""The spine through the HTML pages: join, wait, enter, fill, submit, receipt."""

from __future__ import annotations

import re

from sqlalchemy import create_engine, func, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.form.models import Draft, Submission
from tests.support.form import FILES, VALID, csrf, enter_form, hidden, join


def count_submissions(database_url: str) -> int:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(Submission)).scalar_one()
    engine.dispose()
    return int(total)


def test_landing_shows_queue_state(app) -> None:
    with TestClient(app) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert "Sedang menunggu" in page.text
    assert "Perkiraan tunggu" in page.text
    assert 'lang="id"' in page.text


def test_join_enter_submit_receipt(app, database_url: str) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        response = client.post("/formulir", data={
            **VALID, "csrf_token": csrf(form), "submit_key": hidden(form, "submit_key")},
            files=FILES)
        assert response.status_code == 200
        assert "Pendaftaran berhasil" in response.text
        number = re.search(r'id="registration-number">([^<]+)<', response.text)
        assert number and number.group(1).startswith("REG-")
        assert "Dian Suryana" in response.text
    assert count_submissions(database_url) == 1


def test_an_autosave_after_the_receipt_brings_no_draft_back(app, database_url: str) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        session_cookie = client.cookies.get("antrean_s")
        assert session_cookie is not None
        client.post("/formulir", data={**VALID, "csrf_token": csrf(form),
                                       "submit_key": hidden(form, "submit_key")}, files=FILES)
        assert client.cookies.get("antrean_s") is None  # the receipt ends the session
        # An autosave that left before the receipt arrived carries the old cookie.
        client.cookies.set("antrean_s", session_cookie)
        late = client.post("/formulir/draf", data={"csrf_token": csrf(form), "nama": "Dian S."})
        assert late.status_code == 409
        assert late.json()["error"]["code"] == "draft_closed"
        # The same browser's next turn (a colleague on a shared computer) starts empty.
        fresh = enter_form(client, prove_nik=None)
    assert 'value="Dian' not in fresh
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        drafts = connection.execute(select(Draft.data)).scalars().all()
    engine.dispose()
    assert not [d for d in drafts if d.get("nama") or d.get("nik")]


def test_bad_values_come_back_with_messages_and_kept_values(app) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        bad = {**VALID, "nik": "12345", "telepon": "12", "email": "bukan-email",
               "nama": "  O'Brien  ", "csrf_token": csrf(form),
               "submit_key": hidden(form, "submit_key")}
        response = client.post("/formulir", data=bad)
    assert response.status_code == 422
    text = response.text
    assert 'value="12345"' in text
    assert 'value="bukan-email"' in text
    assert "O&#39;Brien" in text
    assert "16 digit" in text
    assert re.search(r'id="e-telepon">[^<]*telepon', text, re.I)
    assert re.search(r'id="e-email">[^<]*e-mail', text, re.I)


def test_double_submit_stores_one_record(app, database_url: str) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        data = {**VALID, "csrf_token": csrf(form), "submit_key": hidden(form, "submit_key")}
        first = client.post("/formulir", data=data, files=FILES, follow_redirects=False)
        second = client.post("/formulir", data=data, files=FILES, follow_redirects=False)
        assert first.status_code == second.status_code == 303
        one = client.get("/kwitansi").text
    assert count_submissions(database_url) == 1
    assert "Pendaftaran berhasil" in one


def test_submitting_frees_the_place_for_the_next_visitor(settings) -> None:
    # three browsers, each on its own web process of the same room
    apps = [create_app(settings) for _ in range(3)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second, \
            TestClient(apps[2]) as third:
        form = enter_form(first)
        enter_form(second)  # cap is 2: both in
        waiting = join(third)
        assert "Anda dalam antrean" in waiting
        first.post("/formulir", data={**VALID, "csrf_token": csrf(form),
                                      "submit_key": hidden(form, "submit_key")}, files=FILES)
        assert "Giliran Anda tiba" in third.get("/antre").text


def test_drafts_are_saved_as_the_visitor_types(app, database_url: str) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        saved = client.post("/formulir/draf", data={"csrf_token": csrf(form), "nama": "Siti"})
        assert saved.json()["saved"] is True
        again = client.get("/formulir")
    assert 'value="Siti"' in again.text
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        drafts = connection.execute(select(Draft.data)).scalars().all()
    engine.dispose()
    assert [d["nama"] for d in drafts] == ["Siti"]


def test_post_without_csrf_token_is_refused(app) -> None:
    with TestClient(app) as client:
        client.get("/")
        response = client.post("/antre", data={})
    assert response.status_code == 403
    assert "Muat ulang" in response.text


def test_pages_without_a_session_answer_clearly(app) -> None:
    with TestClient(app) as client:
        form = client.get("/formulir")
        receipt = client.get("/kwitansi")
    assert form.status_code == 403 and "<h1>" in form.text
    # No receipt in this browser: the page asks for the NIK to prove, and shows nothing.
    assert receipt.status_code == 200 and 'action="/kwitansi/kode"' in receipt.text


def test_arrival_receipt_is_signed_and_verifiable(app) -> None:
    with TestClient(app) as client:
        join(client)
        receipt = client.get("/antre/bukti")
    assert receipt.status_code == 200
    assert "attachment" in receipt.headers["content-disposition"]
    code = re.search(r"Kode verifikasi: (\S+)", receipt.text)
    assert code
    ticket = app.state.portal.signer.read_arrival_code(code.group(1))
    assert ticket.number == 1 and ticket.room == "main"


def test_a_turn_link_lets_another_browser_take_the_admitted_place(settings) -> None:
    import time

    apps = [create_app(settings) for _ in range(2)]
    with TestClient(apps[0]) as waiting, TestClient(apps[1]) as mail_app:
        first = waiting.post("/api/v1/queue/join", json={}).json()
        waiting.post("/api/v1/queue/join", json={"nik": "3601021210672749"})
        signer = apps[0].state.portal.signer
        link = signer.resume_token("main", 1, int(time.time()) + 120)
        page = mail_app.get(f"/antre/lanjut/{link}")
        assert page.status_code == 200 and "Giliran Anda tiba" in page.text
        # The place follows the link: the browser it left can no longer claim it.
        left = waiting.post(f"/api/v1/queue/{first['token']}/enter")
        assert left.status_code == 409 and left.json()["error"]["code"] == "place_moved"
        form = mail_app.post("/antre/masuk", data={"csrf_token": csrf(page.text)})
        assert 'action="/formulir"' in form.text
        expired = signer.resume_token("main", 2, int(time.time()) - 1)
        gone = mail_app.get(f"/antre/lanjut/{expired}")
        forged = mail_app.get(f"/antre/lanjut/main.2.{int(time.time()) + 99}.AAAA")
    assert gone.status_code == 410 and "tidak berlaku" in gone.text
    assert forged.status_code == 410
