"""A NIK names a person, it never proves one: every way around the code is closed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import httpx2
import pytest
import redis
from sqlalchemy import func, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.identity import store
from portal.identity.models import IdentityBinding, IdentityContest
from portal.notify.models import Notification
from scheduler.models import Booking, Registrant
from tests.support.booking import NIK, OTHER_NIK
from tests.support.identity import latest_code, prove

ROSTER_NIK = "3601021210672749"  # OTHER_NIK, put on the roster below
ROSTER_PHONE = "+6281311112222"
ATTACKER_PHONE = "081299998888"


def on_roster(settings: Any, nik: str = ROSTER_NIK, phone: str = ROSTER_PHONE) -> None:
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session, session.begin():
        session.add(Registrant(nik=nik, name="Siti Rahma", unit_kerja="Dinas", phone=phone))
    engine.dispose()


def rows(settings: Any, model: Any, **where: Any) -> list[Any]:
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            query = select(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return list(session.scalars(query))
    finally:
        engine.dispose()


def ask(client: TestClient, nik: str, **contact: str) -> httpx2.Response:
    return client.post("/api/v1/identity/code", json={"nik": nik, **contact})


def verify(client: TestClient, nik: str, code: str) -> httpx2.Response:
    return client.post("/api/v1/identity/verify", json={"nik": nik, "code": code})


def test_the_answer_tells_nothing_about_the_nik(settings) -> None:
    assert OTHER_NIK == ROSTER_NIK
    on_roster(settings)
    with TestClient(create_app(settings)) as client:
        answers = [ask(client, nik, phone=ATTACKER_PHONE)
                   for nik in (ROSTER_NIK, NIK, "3201010101900001")]
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in answers}) == 1


def test_a_roster_nik_is_proved_only_through_the_roster_contact(settings) -> None:
    on_roster(settings)
    with TestClient(create_app(settings)) as attacker:
        assert ask(attacker, ROSTER_NIK, phone=ATTACKER_PHONE).status_code == 202
        # The code went to the roster's phone; none to the attacker's.
        assert latest_code(settings.database_url, "+6281299998888") is None
        sent_to_roster = latest_code(settings.database_url, ROSTER_PHONE)
        assert sent_to_roster is not None
        # Guessing is all the attacker can do, and a guess is wrong.
        wrong = "000000" if sent_to_roster != "000000" else "111111"
        refused = verify(attacker, ROSTER_NIK, wrong)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_code"
        assert attacker.post("/api/v1/bookings", json={
            "nik": ROSTER_NIK, "name": "x", "phone": ATTACKER_PHONE, "slot_id": 1,
        }).json()["error"]["code"] == "identity_required"
    # A roster NIK is never bound to an offered contact.
    assert rows(settings, IdentityBinding) == []


def test_a_code_works_once_for_its_own_nik_in_its_own_browser(settings) -> None:
    with TestClient(create_app(settings)) as owner, \
            TestClient(create_app(settings)) as other:
        assert ask(owner, NIK, phone="0895-7477-2415").status_code == 202
        code = latest_code(settings.database_url)
        assert code is not None
        # A code for NIK A is no code for NIK B.
        assert verify(owner, OTHER_NIK, code).status_code == 422
        assert verify(owner, NIK, code).status_code == 200
        # Used once: a replay fails, in this browser and in any other.
        assert verify(owner, NIK, code).status_code == 422
        assert verify(other, NIK, code).status_code == 422
        # The proof is this browser's: the other browser still has none.
        assert other.post("/api/v1/bookings", json={
            "nik": NIK, "name": "x", "phone": ATTACKER_PHONE, "slot_id": 1,
        }).status_code == 403


def test_five_wrong_guesses_use_a_code_up(settings) -> None:
    with TestClient(create_app(settings)) as client:
        ask(client, NIK, phone="0895-7477-2415")
        code = latest_code(settings.database_url)
        assert code is not None
        wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != code][:5]
        assert [verify(client, NIK, guess).status_code for guess in wrong] == [422] * 5
        late = verify(client, NIK, code)
    assert late.status_code == 422  # the right code, too late: ask for a new one


def test_codes_are_sent_a_few_times_an_hour_at_most(settings) -> None:
    with TestClient(create_app(settings)) as client:
        answers = [ask(client, NIK, phone="0895-7477-2415") for _ in range(5)]
    assert {answer.status_code for answer in answers} == {202}  # the same answer...
    sent = rows(settings, Notification, purpose="identity_code")
    assert len(sent) == 3  # ...but only three messages


def test_an_office_behind_one_address_proves_every_nik(settings) -> None:
    # 120 colleagues on the office's one address, each their own browser: past what one
    # person may ask for, far below what one address may.
    people = [(f"360128481185{n:04d}", f"0812{n:08d}") for n in range(1, 121)]
    proved = 0
    with TestClient(create_app(settings)) as client:
        for nik, phone in people:
            client.cookies.clear()  # the next colleague's own browser
            assert ask(client, nik, phone=phone).status_code == 202
            code = latest_code(settings.database_url, "+62" + phone[1:])
            assert code is not None, nik
            proved += verify(client, nik, code).status_code == 200
    assert proved == len(people)


def test_one_address_asking_for_everyone_is_bounded(settings, redis_client,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The bound is 600 an hour (far above an office, test above); 40 shows it holds
    # without sending 600 codes.
    bound = replace(store.SENDS_PER_ADDRESS, count=40)
    monkeypatch.setattr(store, "SENDS_PER_ADDRESS", bound)
    with TestClient(create_app(settings)) as client:
        for n in range(1, bound.address_count + 6):
            ask(client, f"3601284811{n // 10000:02d}{n % 10000:04d}",
                phone=f"0813{n:08d}")
    sent = rows(settings, Notification, purpose="identity_code")
    assert len(sent) == bound.address_count


def hash_bytes(client: redis.Redis, key: bytes) -> bytes:
    """A hash's fields and values run together, as the client (not decoding) answers them."""
    joined = b""
    for pair in client.hgetall(key).items():
        for value in pair:
            assert isinstance(value, bytes)
            joined += value
    return joined


def test_codes_are_kept_only_as_keyed_digests(settings, redis_client: redis.Redis) -> None:
    with TestClient(create_app(settings)) as client:
        ask(client, NIK, phone="0895-7477-2415")
    code = latest_code(settings.database_url)
    assert code is not None
    stored = b"".join(key + hash_bytes(redis_client, key)
                      for key in redis_client.scan_iter(match="*identity*")
                      if redis_client.type(key) == b"hash")
    assert stored and code.encode() not in stored and NIK.encode() not in stored


def test_the_first_proved_contact_binds_a_nik_off_the_roster(settings) -> None:
    with TestClient(create_app(settings)) as first:
        prove(first, NIK, phone="0895-7477-2415")
    [binding] = rows(settings, IdentityBinding)
    assert (binding.nik, binding.channel, binding.address) == (NIK, "sms", "+6289574772415")
    with TestClient(create_app(settings)) as second:
        # Someone else offers their own phone: the code still goes to the bound one,
        # and the operators see a contest.
        ask(second, NIK, phone=ATTACKER_PHONE)
    assert latest_code(settings.database_url, "+6281299998888") is None
    [contest] = rows(settings, IdentityContest)
    assert (contest.nik, contest.address) == (NIK, "+6281299998888")


def test_twenty_simultaneous_guesses_count_as_twenty(
        settings, live_server_factory, database_url: str) -> None:
    server = live_server_factory(database_url)

    async def storm() -> tuple[list[int], int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await client.post("/api/v1/identity/code", json={"nik": NIK, "phone": "0895-7477-2415"})
            code = latest_code(settings.database_url)
            assert code is not None
            wrong = [f"{n:06d}" for n in range(100) if f"{n:06d}" != code][:20]
            answers = await asyncio.gather(*(client.post("/api/v1/identity/verify",
                                                         json={"nik": NIK, "code": guess})
                                             for guess in wrong))
            late = await client.post("/api/v1/identity/verify", json={"nik": NIK, "code": code})
            return [answer.status_code for answer in answers], late.status_code

    statuses, late = asyncio.run(storm())
    # 5 guesses reach the code, the rest find it gone; 20 counted, so the 21st is refused
    # unchecked even with the right code.
    assert statuses.count(200) == 0 and len(statuses) == 20
    assert late == 429


def test_grouped_nik_and_counts(settings) -> None:
    with TestClient(create_app(settings)) as client:
        prove(client, "3601 2848 1185 5133", phone="0895-7477-2415")
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(IdentityBinding).where(
            IdentityBinding.nik == NIK)) == 1
    engine.dispose()


def test_an_admin_moves_a_contested_nik_to_the_checked_contact(settings) -> None:
    from tests.support.admin import add_user, audit_entries, log_in, post_form

    with TestClient(create_app(settings)) as squatter:
        prove(squatter, NIK, phone=ATTACKER_PHONE)  # first: the NIK is bound to this phone
    with TestClient(create_app(settings)) as owner:
        ask(owner, NIK, phone="0895-7477-2415")  # the real person: listed as a contest
    add_user(settings, "ani", "admin")
    with TestClient(create_app(settings)) as console:
        log_in(console, "ani")
        page = console.get("/admin/identitas")
        assert page.status_code == 200
        assert NIK not in page.text and "5133" in page.text  # masked
        assert "+6289574772415" not in page.text and "+62895****415" in page.text
        [contest] = rows(settings, IdentityContest)
        moved = post_form(console, "/admin/identitas", f"/admin/identitas/{contest.id}",
                          {"decision": "rebind"})
        assert moved.status_code == 200 and "kontak baru" in moved.text
        again = post_form(console, "/admin/identitas", f"/admin/identitas/{contest.id}",
                          {"decision": "dismiss"})
        assert again.status_code == 409
    [binding] = rows(settings, IdentityBinding)
    assert binding.address == "+6289574772415"
    assert [e.action for e in audit_entries(settings)][-1] == "identity.rebind"
    # From now on the real person's phone gets the NIK's codes.
    with TestClient(create_app(settings)) as owner:
        prove(owner, NIK)
    assert latest_code(settings.database_url, "+6289574772415") is not None


def test_a_booking_off_the_roster_makes_no_roster_contact(app, slots) -> None:
    settings = app.state.portal.settings
    with TestClient(app) as owner:
        prove(owner, NIK, phone="0895-7477-2415")  # binds the NIK to this phone
        booked = owner.post("/api/v1/bookings", json={
            "nik": NIK, "name": "Dian", "phone": "0812-1111-3333", "slot_id": slots[0]["id"]})
        assert booked.status_code == 201, booked.text
    [row] = rows(settings, Registrant, nik=NIK)
    assert not row.on_roster and row.phone == "+6281211113333"
    [booking] = rows(settings, Booking)
    assert booking.told_at is not None  # confirmed as it was made: reminders will follow
    with TestClient(create_app(settings)) as other:
        ask(other, NIK, phone=ATTACKER_PHONE)
    # The code goes to the bound phone, never to the phone a booking was made with.
    assert latest_code(settings.database_url, "+6281211113333") is None
    assert latest_code(settings.database_url, "+6289574772415") is not None
    with TestClient(create_app(settings)) as console:
        from tests.support.admin import add_user, log_in

        add_user(settings, "ani", "admin")
        log_in(console, "ani")
        # Nobody is on the roster: a booker is not counted as one.
        assert console.get("/admin/api/dasbor").json()["tiles"]["roster_size"] == 0
