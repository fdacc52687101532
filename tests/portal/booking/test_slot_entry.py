"""Slots meet the queue: offers instead of a long wait, and booked visitors going first."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory
from scheduler.models import Slot
from tests.support.booking import person
from tests.support.form import csrf, join
from tests.support.identity import ensure_proved


def api_join(client: TestClient) -> dict:
    response = client.post("/api/v1/queue/join", json={})
    assert response.status_code == 201
    return response.json()


def test_a_long_wait_comes_with_a_slot_offer(settings, slots) -> None:  # noqa: F811
    apps = [create_app(settings) for _ in range(6)]
    clients = [TestClient(a) for a in apps]
    for client in clients:
        client.__enter__()
    try:
        bodies = [api_join(client) for client in clients]
        assert [b["state"] for b in bodies[:2]] == ["admitted", "admitted"]
        # position 1 waits ~10 minutes (2 places, 20-minute sessions): no offer yet
        assert bodies[2]["offer"] is None
        far = bodies[5]
        assert far["eta_seconds"] >= 30 * 60
        offer = far["offer"]
        assert offer is not None and offer["id"] in {slot["id"] for slot in slots}
        page = clients[5].get("/antre")
        assert f'href="/booking?slot={offer["id"]}"' in page.text
    finally:
        for client in clients:
            client.__exit__(None, None, None)


def test_booking_the_offer_gives_up_the_queue_place(settings, slots) -> None:  # noqa: F811
    holders = [create_app(settings) for _ in range(2)]
    with TestClient(holders[0]) as a, TestClient(holders[1]) as b, \
            TestClient(create_app(settings)) as visitor:
        api_join(a)
        api_join(b)
        token = api_join(visitor)["token"]
        form = visitor.get(f"/booking?slot={slots[0]['id']}")
        ensure_proved(visitor, person()["nik"], phone=person()["phone"])
        done = visitor.post("/booking", data={**person(), "csrf_token": csrf(form.text),
                                              "slot_id": str(slots[0]["id"])})
        assert done.status_code == 201
        status = visitor.get(f"/api/v1/queue/{token}").json()
        waiting = visitor.get("/antre")
    assert status["state"] == "left"
    assert "keluar dari antrean" in waiting.text


def test_a_booked_visitor_in_their_slot_goes_ahead_of_walk_ins(settings, slots) -> None:  # noqa: F811
    with TestClient(create_app(settings)) as booker:
        ensure_proved(booker, person()["nik"], phone=person()["phone"])
        code = booker.post("/api/v1/bookings",
                           json={**person(), "slot_id": slots[0]["id"]}).json()["code"]
    # the slot is now: it began five minutes ago
    engine = create_db_engine(settings.database_url)
    now = dt.datetime.now(dt.UTC)
    with session_factory(engine)() as session, session.begin():
        session.execute(update(Slot).where(Slot.id == slots[0]["id"]).values(
            start=now - dt.timedelta(minutes=5), end=now + dt.timedelta(minutes=25)))
    engine.dispose()

    apps = [create_app(settings) for _ in range(4)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second, \
            TestClient(apps[2]) as walk_in, TestClient(apps[3]) as booked:
        holder = api_join(first)
        api_join(second)
        walk_in_token = api_join(walk_in)["token"]
        check = booked.get("/booking/cek")
        found = booked.post("/booking/cek", data={"csrf_token": csrf(check.text), "code": code,
                                                  "nik": person()["nik"], "action": "lihat"})
        assert 'id="enter-slot"' in found.text
        entered = booked.post("/booking/cek", data={"csrf_token": csrf(found.text), "code": code,
                                                    "nik": person()["nik"], "action": "masuk"})
        assert entered.status_code == 200 and "Anda dalam antrean" in entered.text
        # Honest: first in the booked visitors' lane, not behind the two walk-ins.
        assert re.search(r'id="position">1<', entered.text), entered.text
        token = booked.cookies.get("antrean_q")
        assert booked.get(f"/api/v1/queue/{token}").json()["position"] == 1
        first.post(f"/api/v1/queue/{holder['token']}/enter")
        first.post("/api/v1/session/finish")
        # the freed place goes to the booked visitor, not the walk-in who came earlier
        assert "Giliran Anda tiba" in booked.get("/antre").text
        assert walk_in.get(f"/api/v1/queue/{walk_in_token}").json()["state"] == "waiting"


def test_outside_the_slot_time_the_booking_does_not_open_the_door(app, slots) -> None:  # noqa: F811
    with TestClient(app) as client:
        ensure_proved(client, person()["nik"], phone=person()["phone"])
        code = client.post("/api/v1/bookings",
                           json={**person(), "slot_id": slots[0]["id"]}).json()["code"]
        page = client.get("/booking/cek")
        response = client.post("/booking/cek", data={"csrf_token": csrf(page.text), "code": code,
                                                     "nik": person()["nik"], "action": "masuk"})
        assert response.status_code == 409
        # Early: when to come back, in the registration's zone, labelled.
        assert "Anda datang lebih awal" in response.text
        assert re.search(r"Kembalilah mulai \d{1,2} \w{3} \d{4} \d{2}\.\d{2} WIB",
                         response.text)
        assert re.search(r'id="enter-slot"', response.text) is None
        assert 'id="door-opens"' in response.text
        assert "Anda dalam antrean" not in join(client)  # cap 2: a plain join is admitted
