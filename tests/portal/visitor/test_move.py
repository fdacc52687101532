"""A place changes device only for its owner: a code goes to the contact the place keeps."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.notify.models import Notification
from tests.support.form import csrf, join

OWNER_EMAIL = "siti@example.id"


def move_codes(settings: Any) -> list[Notification]:
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Notification).where(
                Notification.purpose == "move_code").order_by(Notification.id)))
    finally:
        engine.dispose()


def number_on(page: str) -> int:
    found = re.search(r'id="queue-number">[^<]*<strong>(\d+)</strong>', page)
    assert found, "the waiting page shows no queue number"
    return int(found.group(1))


def ask_code(client: TestClient, number: int | str) -> Any:
    page = client.get("/antre/pindah")
    assert page.status_code == 200
    return client.post("/antre/pindah/kode", data={"csrf_token": csrf(page.text),
                                                    "nomor": str(number)})


def type_code(client: TestClient, number: int, code: str) -> Any:
    page = client.get("/antre/pindah")
    return client.post("/antre/pindah/verifikasi", data={
        "csrf_token": csrf(page.text), "nomor": str(number), "code": code},
        follow_redirects=False)


def test_the_owner_moves_a_place_and_the_old_device_loses_it(settings) -> None:
    settings = replace(settings, room_defaults=replace(settings.room_defaults, max_active=1))
    apps = [create_app(settings) for _ in range(4)]
    with TestClient(apps[0]) as holder, TestClient(apps[1]) as old, \
            TestClient(apps[2]) as new, TestClient(apps[3]) as stranger:
        holder_token = holder.post("/api/v1/queue/join", json={}).json()["token"]
        holder.post(f"/api/v1/queue/{holder_token}/enter")  # the one place is taken
        waiting = join(old)
        number = number_on(waiting)
        old.post("/antre/kabari", data={"csrf_token": csrf(waiting), "email": OWNER_EMAIL})

        # Someone who knows the number (or guesses it) asks too: the code goes to the owner.
        answers = [ask_code(stranger, number), ask_code(stranger, number + 50),
                   ask_code(stranger, "12a")]
        assert [a.status_code for a in answers] == [202, 202, 422]
        assert answers[0].text.count("Jika nomor antrean ini") == 1
        [sent] = move_codes(settings)
        assert sent.address == OWNER_EMAIL  # nothing was sent for the number without contact
        wrong = "000000" if sent.context["otp"] != "000000" else "111111"
        refused = type_code(stranger, number, wrong)
        assert refused.status_code == 422 and 'id="e-code"' in refused.text

        # The owner on the new device: a new code (the older one stops working).
        assert ask_code(new, number).status_code == 202
        code = move_codes(settings)[-1].context["otp"]
        assert type_code(new, number, sent.context["otp"]).status_code == 422
        moved = type_code(new, number, code)
        assert moved.status_code == 303 and moved.headers["location"] == "/antre?pindah=1"
        here = new.get("/antre?pindah=1")
        assert 'id="moved-here"' in here.text and number_on(here.text) == number
        assert type_code(stranger, number, code).status_code == 422  # used once

        # The old device taps again: a new place of its own, never the moved one.
        again = old.post("/antre", data={"csrf_token": csrf(waiting)})
        assert number_on(again.text) != number
        holder.post("/api/v1/session/finish")  # the moved place is admitted
        new_page = new.get("/antre")
        assert "Giliran Anda tiba" in new_page.text
        form = new.post("/antre/masuk", data={"csrf_token": csrf(new_page.text)})
        assert 'action="/formulir"' in form.text


def test_a_token_left_on_the_old_device_is_refused_at_the_door(settings) -> None:
    settings = replace(settings, room_defaults=replace(settings.room_defaults, max_active=1))
    apps = [create_app(settings) for _ in range(2)]
    with TestClient(apps[0]) as old, TestClient(apps[1]) as new:
        token = old.post("/api/v1/queue/join", json={}).json()["token"]
        page = old.get("/antre")
        assert "Giliran Anda tiba" in page.text
        number = number_on_admitted(old, token)
        old.post("/antre/kabari", data={"csrf_token": csrf(page.text),
                                        "telepon": "0812-3456-7890"})
        assert ask_code(new, number).status_code == 202
        [sent] = move_codes(settings)
        assert sent.channel == "sms" and sent.address == "+6281234567890"
        assert type_code(new, number, sent.context["otp"]).status_code == 303
        stale = old.post(f"/api/v1/queue/{token}/enter")
        assert stale.status_code == 409 and stale.json()["error"]["code"] == "place_moved"
        door = old.post("/antre/masuk", data={"csrf_token": csrf(page.text)})
        assert door.status_code == 409 and "dipindahkan" in door.text
        entered = new.post("/antre/masuk", data={"csrf_token": csrf(new.get("/antre").text)})
        assert 'action="/formulir"' in entered.text


def number_on_admitted(client: TestClient, token: str) -> int:
    app: Any = client.app
    ticket = app.state.portal.signer.read_queue_token(token, client.cookies.get("antrean_b"),
                                                      time.time())
    return int(ticket.number)
