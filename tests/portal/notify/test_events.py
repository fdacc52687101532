"""Portal events reach people: the "your turn" link, booking and receipt messages."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from email.utils import parseaddr
from typing import Any

import pytest
import redis
from icalendar import Calendar
from redis.asyncio import Redis
from starlette.testclient import TestClient

from portal.app import create_app
from portal.cli.run import Notifier
from portal.db import create_db_engine
from tests.support.booking import person
from tests.support.form import FILES, VALID, csrf, enter_form, hidden
from tests.support.identity import ensure_proved
from tests.support.jobs import work_jobs
from tests.support.notify import SmtpRecorder
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom


@pytest.fixture
def smtp() -> Iterator[SmtpRecorder]:
    server = SmtpRecorder().start()
    yield server
    server.stop()


def deliver(app: Any, smtp: SmtpRecorder, redis_client: redis.Redis) -> None:
    """Run every queued message job in this process, sending to the test SMTP server."""
    settings = replace(app.state.portal.notify, smtp_host="127.0.0.1", smtp_port=smtp.port,
                       outbox=False, retry_intervals=(0,), channel_rates={})
    work_jobs(settings, redis_client)


def test_a_visitor_who_left_an_address_gets_a_link_that_lets_them_in(
    settings, redis_client: redis.Redis, redis_url: str, smtp: SmtpRecorder
) -> None:
    settings = replace(settings, room_defaults=replace(settings.room_defaults, max_active=1))
    apps = [create_app(settings) for _ in range(3)]
    with TestClient(apps[0]) as holder, TestClient(apps[1]) as waiting, \
            TestClient(apps[2]) as phone:
        first = holder.post("/api/v1/queue/join", json={}).json()
        holder.post(f"/api/v1/queue/{first['token']}/enter")
        landing = waiting.get("/")
        page = waiting.post("/antre", data={"csrf_token": csrf(landing.text)})
        bad = waiting.post("/antre/kabari", data={"csrf_token": csrf(page.text),
                                                  "email": "bukan-email"})
        assert bad.status_code == 422 and 'id="ne-email"' in bad.text
        saved = waiting.post("/antre/kabari", data={"csrf_token": csrf(page.text),
                                                    "email": "Siti@Example.id"})
        assert 'id="notice-saved"' in saved.text
        holder.post("/api/v1/session/finish")  # the place goes to the one who asked

        async def loop_step() -> None:
            client = Redis.from_url(redis_url)
            room = WaitingRoom(client, RoomKeys(settings.redis_prefix, settings.room))
            notifier = Notifier(settings, create_db_engine(settings.database_url))
            try:
                due = await room.take_due_notices()
                assert len(due) == 1
                await notifier.turns(room, due)
            finally:
                notifier.close()
                await client.aclose()

        asyncio.run(loop_step())
        deliver(apps[0], smtp, redis_client)
        assert smtp.wait_for(1, timeout=10)
        message = smtp.messages[0]
        assert message["To"] == "siti@example.id"
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        link = re.search(r"https?://[^\s]+(/antre/lanjut/[^\s]+)", text)
        assert link, text
        admitted = phone.get(link.group(1))  # opened on the phone's mail app
    assert "Giliran Anda tiba" in admitted.text


def test_booking_and_receipt_messages_are_sent_once(
    app, slots, redis_client: redis.Redis, smtp: SmtpRecorder  # noqa: F811
) -> None:
    with TestClient(app) as client:
        ensure_proved(client, person()["nik"], phone=person()["phone"])
        created = client.post("/api/v1/bookings", json={**person(), "slot_id": slots[0]["id"]})
        code = created.json()["code"]
        moved = client.post(f"/api/v1/bookings/{code}/reschedule",
                            json={"nik": person()["nik"], "slot_id": slots[1]["id"]})
        assert moved.status_code == 200
        form = enter_form(client)
        data = {**VALID, "csrf_token": csrf(form), "submit_key": hidden(form, "submit_key")}
        client.post("/formulir", data=data, files=FILES)
        client.post("/formulir", data=data, files=FILES)  # a second click: one receipt
        deliver(app, smtp, redis_client)
    # the confirmation of the first slot was still queued when the booking moved: it is
    # withdrawn, and the person gets one message about the slot that holds
    assert smtp.wait_for(2, timeout=10)
    assert len(smtp.messages) == 2, [str(m["Subject"]) for m in smtp.messages]
    booking_mail = [m for m in smtp.messages if m["To"] == "dian@example.id"]
    assert len(booking_mail) == 1
    assert any(p.get_content_type() == "text/calendar" for p in booking_mail[0].walk())
    receipt = [m for m in smtp.messages if m["To"] == VALID["email"]]
    assert len(receipt) == 1
    body = receipt[0].get_body(preferencelist=("plain",))
    assert body is not None
    assert "REG-" in body.get_content()


def invite_of(message: Any) -> tuple[str, Calendar]:
    """The MIME method and the parsed calendar of a mail's one .ics part."""
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part.get_param("method"), Calendar.from_ical(part.get_payload(decode=True))


def test_each_booking_mail_carries_its_invite_and_the_cancellation_a_cancel(
    app, slots, redis_client: redis.Redis, smtp: SmtpRecorder
) -> None:
    nik = person()["nik"]
    with TestClient(app) as client:
        ensure_proved(client, nik, phone=person()["phone"])
        code = client.post("/api/v1/bookings",
                           json={**person(), "slot_id": slots[0]["id"]}).json()["code"]
        deliver(app, smtp, redis_client)
        assert smtp.wait_for(1, timeout=10)
        client.post(f"/api/v1/bookings/{code}/reschedule",
                    json={"nik": nik, "slot_id": slots[1]["id"]})
        deliver(app, smtp, redis_client)
        assert smtp.wait_for(2, timeout=10)
        client.request("DELETE", f"/api/v1/bookings/{code}", json={"nik": nik})
        deliver(app, smtp, redis_client)
        assert smtp.wait_for(3, timeout=10)
        download = Calendar.from_ical(client.get(f"/api/v1/bookings/{code}.ics").content)
    mails = [m for m in smtp.messages if m["To"] == "dian@example.id"]
    assert len(mails) == 3
    sender = app.state.portal.notify.smtp_from
    seen = []
    for mail in mails:
        mime_method, calendar = invite_of(mail)
        [event] = calendar.walk("VEVENT")
        assert mime_method == calendar["method"]
        assert str(event["attendee"]) == "mailto:dian@example.id"
        assert str(event["organizer"]) == f"mailto:{parseaddr(sender)[1]}"
        seen.append((str(event["uid"]), calendar["method"], event["sequence"],
                     str(event["status"])))
    [last] = download.walk("VEVENT")
    uid = str(last["uid"])
    assert seen == [(uid, "REQUEST", 0, "CONFIRMED"), (uid, "REQUEST", 1, "CONFIRMED"),
                    (uid, "CANCEL", 2, "CANCELLED")]
    assert (download["method"], last["sequence"]) == ("CANCEL", 2)
