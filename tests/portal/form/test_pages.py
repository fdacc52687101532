"""The registration form in depth: uploads, drafts across sessions and browsers, bad input."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.notify.channels import list_outbox
from portal.notify.models import Notification
from tests.support.form import FILES, PDF, VALID, csrf, enter_form, hidden
from tests.support.jobs import work_jobs


def submit(client: TestClient, form_html: str, values: dict[str, str], files=FILES):
    return client.post("/formulir", data={**values, "csrf_token": csrf(form_html),
                                          "submit_key": hidden(form_html, "submit_key")},
                       files=files)


def test_fake_and_oversized_pdfs_are_refused_with_messages(app) -> None:
    fake = {"berkas_sk": ("sk.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"),
            "berkas_ijazah": ("big.pdf", PDF[:-7] + b" " * (1024 * 1024) + b"%%EOF\n",
                              "application/pdf")}
    with TestClient(app) as client:
        form = enter_form(client)
        response = submit(client, form, VALID, files=fake)
    assert response.status_code == 422
    assert re.search(r'id="e-berkas_sk">[^<]*bukan PDF', response.text)
    assert re.search(r'id="e-berkas_ijazah">[^<]*1 MB', response.text)


def test_missing_uploads_are_required(app) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        response = submit(client, form, VALID, files={})
    assert response.status_code == 422
    assert "wajib diunggah" in response.text


def test_upload_endpoint_stores_outside_the_web_root(app, settings) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        stored = client.post("/formulir/berkas", data={"csrf_token": csrf(form),
                                                       "jenis": "berkas_sk"},
                             files={"berkas": ("Surat Keputusan.pdf", PDF, "application/pdf")})
        assert stored.status_code == 200 and stored.json()["name"] == "Surat Keputusan.pdf"
        bad = client.post("/formulir/berkas", data={"csrf_token": csrf(form),
                                                    "jenis": "berkas_sk"},
                          files={"berkas": ("x.pdf", b"<html>", "application/pdf")})
        assert bad.status_code == 422 and "PDF" in bad.json()["error"]["message"]
        again = client.get("/formulir")
        assert "Surat Keputusan.pdf" in again.text
        # already uploaded: the final submit needs only the other file
        response = submit(client, again.text, VALID,
                          files={"berkas_ijazah": ("ijazah.pdf", PDF, "application/pdf")})
        assert "Pendaftaran berhasil" in response.text
        stored_files = list((Path(settings.var_dir) / "uploads").rglob("*.pdf"))
        assert len(stored_files) == 2
        assert client.get("/static/" + stored_files[0].name).status_code == 404


def test_expired_session_keeps_the_draft_for_the_next_admission(app) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        client.post("/formulir/draf", data={"csrf_token": csrf(form), "nama": "Siti Aminah",
                                             "nomor_sk": "800/1/2019"})
        # the session ends (idle timeout) while the visitor is away
        session_id = app.state.portal.signer.read_session_token(
            client.cookies.get("antrean_s"), client.cookies.get("antrean_b")).session_id
        assert client.portal is not None
        client.portal.call(app.state.portal.room.finish, session_id)
        over = submit(client, form, {**VALID, "nama": "Siti Aminah binti Ahmad"})
        assert over.status_code == 403 and "tersimpan" in over.text
        back = enter_form(client)
    assert 'value="Siti Aminah binti Ahmad"' in back  # the last attempt was saved too


def test_a_draft_follows_its_owner_to_another_browser(settings) -> None:
    with TestClient(create_app(settings)) as phone, \
            TestClient(create_app(settings)) as laptop:
        form = enter_form(phone)
        # the NIK typed in groups, as it is printed on the KTP
        phone.post("/formulir/draf", data={"csrf_token": csrf(form), **VALID,
                                           "nik": "3601 2848 1185 5133"})
        code = re.search(r'id="recovery-code">([^<]+)<', form)
        assert code
        fresh = enter_form(laptop)
        assert 'value="Dian Suryana"' not in fresh
        wrong = laptop.post("/formulir/pulihkan", data={"csrf_token": csrf(fresh),
                                                        "nik": VALID["nik"], "kode": "AAAA-AAAA"})
        assert wrong.status_code == 422 and "tidak ditemukan" in wrong.text
        typed = code.group(1).lower().replace("-", " ")  # as someone might type it
        restored = laptop.post("/formulir/pulihkan", data={"csrf_token": csrf(fresh),
                                                           "nik": VALID["nik"], "kode": typed})
        # The phone's page is still open: what it sends now makes no copy of the draft.
        late = phone.post("/formulir/draf", data={"csrf_token": csrf(form), **VALID})
        assert late.status_code == 409 and late.json()["error"]["code"] == "draft_closed"
        assert 'value="Dian Suryana"' not in phone.get("/formulir").text
    assert restored.status_code == 200
    assert "berhasil dipulihkan" in restored.text
    assert 'value="Dian Suryana"' in restored.text


def recovery_messages(settings) -> list[Notification]:
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Notification).where(
                Notification.purpose == "recovery_code")))
    finally:
        engine.dispose()


def test_the_recovery_code_goes_to_the_verified_contact_once(settings, redis_client) -> None:
    with TestClient(create_app(settings)) as phone:
        form = enter_form(phone)  # proves the NIK, which binds this phone to it
        code = re.search(r'id="recovery-code">([^<]+)<', form)
        assert code and 'id="recovery-sent" hidden' in form  # no NIK typed yet
        first = phone.post("/formulir/draf", data={"csrf_token": csrf(form), "nik": VALID["nik"]})
        assert first.json()["recovery_sent"] is True
        phone.post("/formulir/draf", data={"csrf_token": csrf(form), "nama": "Dian"})
        assert 'id="recovery-sent" hidden' not in phone.get("/formulir").text
    [message] = recovery_messages(settings)
    assert (message.channel, message.address) == ("sms", "+6289574772415")
    assert message.context["otp"] == code.group(1)
    with TestClient(create_app(settings)) as stranger:
        # Typing someone's NIK without proving it sends them nothing.
        other = enter_form(stranger, prove_nik=None)
        answer = stranger.post("/formulir/draf", data={"csrf_token": csrf(other),
                                                        "nik": VALID["nik"]})
        assert answer.json()["recovery_sent"] is False
    assert len(recovery_messages(settings)) == 1
    work_jobs(settings.notify, redis_client)
    [sent] = recovery_messages(settings)
    assert sent.status == "sent" and sent.context["otp"] != code.group(1)  # not kept once sent
    [text] = [entry.path.read_text() for entry in list_outbox(settings.notify.outbox_dir)
              if "pemulihan" in entry.path.read_text()]
    assert code.group(1) in text


def test_typed_html_is_shown_back_escaped(app) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        evil = '<script>alert(1)</script>'
        response = submit(client, form, {**VALID, "nama": evil, "telepon": evil + "%s%%"})
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_every_validation_message_is_shown_next_to_its_field(app) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        response = submit(client, form, {k: "" for k in VALID}, files={})
    required = ["nik", "nama", "tempat_lahir", "tanggal_lahir", "jenis_kelamin", "pendidikan",
                "nama_sekolah", "nomor_ijazah", "tanggal_lulus", "nomor_sk", "tanggal_sk",
                "pejabat_sk", "tmt_mulai", "jabatan", "unit_kerja", "instansi", "sumber_gaji",
                "telepon", "berkas_sk", "berkas_ijazah"]
    for name in required:
        assert f'id="e-{name}"' in response.text, name


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(values=st.dictionaries(st.sampled_from(sorted(VALID) + ["submit_key", "x"]),
                              st.one_of(texts, st.just("9" * 5000))),
       upload=st.one_of(st.none(), st.binary(max_size=2048),
                        st.just(b"%PDF-" + b"\x00" * 100 + b"%%EOF")))
def test_no_input_makes_the_form_fail(app, redis_client, values: dict[str, str],
                                      upload: bytes | None) -> None:
    redis_client.flushdb()  # every example starts with an empty room
    with TestClient(app) as client:
        form = enter_form(client)
        data = {**values, "csrf_token": csrf(form)}
        files = {"berkas_sk": ("a.pdf", upload, "application/pdf")} if upload is not None else {}
        response = client.post("/formulir", data=data, files=files)
        client.post("/formulir/draf", data=data)
    assert response.status_code < 500


def test_a_booking_code_opens_no_draft(app, slots) -> None:
    """Knowing a NIK is enough to book a slot with it; that must not open the person's draft."""
    with TestClient(app) as victim:
        form = enter_form(victim)
        victim.post("/formulir/draf", data={"csrf_token": csrf(form), **VALID})
    with TestClient(create_app(app.state.portal.settings)) as attacker:
        booked = attacker.post("/api/v1/bookings", json={
            "nik": VALID["nik"], "name": "x", "phone": "081234567890",
            "slot_id": slots[0]["id"]})
        fresh = enter_form(attacker)
        stolen = attacker.post("/formulir/pulihkan", data={
            "csrf_token": csrf(fresh), "nik": VALID["nik"],
            "kode": booked.json().get("code", "AAAA-AAAA")})
    assert stolen.status_code == 422
    assert "Dian Suryana" not in stolen.text


def test_recovery_code_guesses_are_limited(app) -> None:
    with TestClient(app) as owner:
        form = enter_form(owner)
        owner.post("/formulir/draf", data={"csrf_token": csrf(form), **VALID})
        real = re.search(r'id="recovery-code">([^<]+)<', form)
        assert real
    with TestClient(create_app(app.state.portal.settings)) as guesser:
        fresh = enter_form(guesser)
        statuses = [guesser.post("/formulir/pulihkan", data={
            "csrf_token": csrf(fresh), "nik": VALID["nik"],
            "kode": f"AAAA-{n:04d}"}).status_code for n in range(10)]
        # Past the limit even the right code is not checked.
        late = guesser.post("/formulir/pulihkan", data={
            "csrf_token": csrf(fresh), "nik": VALID["nik"], "kode": real.group(1)})
    assert statuses == [422] * 10
    assert late.status_code == 429 and "Dian Suryana" not in late.text
    assert late.headers["Retry-After"] == "900"


def test_a_browser_never_admitted_leaves_no_draft(app, settings) -> None:
    from sqlalchemy import func, select

    from portal.db import create_db_engine, session_factory
    from portal.form.models import Draft

    with TestClient(app) as stranger:
        landing = stranger.get("/")
        refused = stranger.post("/formulir", data={**VALID, "csrf_token": csrf(landing.text),
                                                   "submit_key": "AAAA-BBBB-CCCC-DDDD"},
                                files=FILES)
    assert refused.status_code == 403
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 0
    engine.dispose()
