"""Notifications end to end: real SMTP server, a local SMS gateway, RQ jobs in-process."""

from __future__ import annotations

import base64
import email.policy
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.form.seal import seal_of
from portal.notify import dispatch, jobs
from portal.notify.channels import list_outbox
from portal.notify.dispatch import BookingNotice
from portal.notify.gateway import SuccessRule
from portal.notify.models import FAILED, QUEUED, SENDING, SENT, WITHDRAWN, Notification
from portal.notify.ratelimit import ChannelRateLimiter
from portal.notify.records import (
    MessageRequest,
    claim,
    failed_notifications,
    mark_sent,
    recipient_key,
)
from portal.notify.reminders import enqueue_due_reminders
from portal.notify.settings import NotifySettings
from tests.support.apps import make_settings
from tests.support.metrics import value
from tests.support.notify import (
    TEST_SECRET,
    SmsGateway,
    SmtpRecorder,
    notify_settings,
    sqlalchemy_url,
)
from tests.support.servers import free_port

ICS = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Antrean//ID\r\nBEGIN:VEVENT\r\n"
       b"UID:BK-7K3F@antrean\r\nDTSTART:20260901T020000Z\r\nDTEND:20260901T021500Z\r\n"
       b"SUMMARY:Pendaftaran BKD\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@dataclass
class Env:
    settings: NotifySettings
    sessions: sessionmaker[Session]
    engine: Engine
    queue: Queue
    redis: redis.Redis
    smtp: SmtpRecorder
    sms: SmsGateway

    def configure(self, **changes: Any) -> None:
        """Change settings and reinstall the runtime the jobs use."""
        self.settings = replace(self.settings, **changes)
        jobs.install_runtime(jobs.build_runtime(self.settings, self.sessions, self.redis))

    def work(self) -> None:
        """Run every queued job in this process."""
        SimpleWorker([self.queue], connection=self.redis).work(burst=True)

    def records(self) -> list[Notification]:
        with self.sessions() as session:
            return list(session.scalars(select(Notification).order_by(Notification.id)))


@pytest.fixture
def smtp_server() -> Iterator[SmtpRecorder]:
    server = SmtpRecorder().start()
    yield server
    server.stop()


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway().start()
    yield gateway
    gateway.stop()


@pytest.fixture
def env(database_url: str, redis_client: redis.Redis, redis_url: str, tmp_path: Path,
        smtp_server: SmtpRecorder, sms_gateway: SmsGateway) -> Iterator[Env]:
    settings = notify_settings(tmp_path, database_url, redis_url, smtp_host="127.0.0.1",
                               smtp_port=smtp_server.port, sms_url=sms_gateway.url,
                               sms_timeout=0.5)
    engine = create_db_engine(sqlalchemy_url(database_url))
    sessions = session_factory(engine)
    environment = Env(settings, sessions, engine, Queue("antrean", connection=redis_client),
                      redis_client, smtp_server, sms_gateway)
    environment.configure()
    yield environment
    jobs.install_runtime(None)
    engine.dispose()


def booking(code: str = "BK-7K3F-9Q2M", start: datetime | None = None,
            email: str | None = "siti@example.com", phone: str | None = "+6281234567890",
            booked_at: datetime | None = None) -> BookingNotice:
    start = start or datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    return BookingNotice(code=code, slot_start=start, slot_end=start + timedelta(minutes=15),
                         name="Siti Rahma", email=email, phone=phone, booked_at=booked_at)


def parts(message: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in message.walk():
        found.setdefault(part.get_content_type(), part)
    return found


def test_booking_confirmation_mail_has_both_parts_the_ics_and_the_link(env: Env) -> None:
    with env.sessions() as session:
        records = dispatch.notify_booking_confirmed(session, env.queue, env.settings, booking(),
                                                    ICS)
        session.commit()
    assert [r.channel for r in records] == ["email", "sms"]
    env.work()

    assert len(env.smtp.messages) == 1
    message = env.smtp.messages[0]
    assert env.smtp.envelopes[0] == ("noreply@antrean.example.go.id", ["siti@example.com"])
    assert message["To"] == "siti@example.com"
    assert message["From"] == "Antrean BKD <noreply@antrean.example.go.id>"
    assert "BK-7K3F-9Q2M" not in message["Subject"]
    assert message["Subject"].startswith("Jadwal pendaftaran Anda: 1 Sep 2026 09.00 WIB")
    assert message["Message-ID"] == f"<notification-{records[0].id}@antrean.example.go.id>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/mixed"
    found = parts(message)
    assert "multipart/alternative" in found
    text = found["text/plain"].get_content()
    html = found["text/html"].get_content()
    link = "https://antrean.example.go.id/jadwal/BK-7K3F-9Q2M"
    for body in (text, html):
        assert link in body
        assert "BK-7K3F-9Q2M" in body
        assert "Selasa, 1 September 2026 pukul 09.00 WIB" in body
    assert 'href="https://antrean.example.go.id/jadwal/BK-7K3F-9Q2M"' in html
    calendar = found["text/calendar"]
    assert calendar.get_filename() == "jadwal-BK-7K3F-9Q2M.ics"
    assert calendar.get_content_disposition() == "attachment"
    assert calendar.get_payload(decode=True) == ICS
    assert calendar.get_param("method") == "PUBLISH"

    [sms] = env.sms.messages()
    assert sms["to"] == "+6281234567890"
    assert "BK-7K3F-9Q2M" in sms["message"] and link in sms["message"]
    assert len(sms["message"]) <= 160
    assert [r.status for r in env.records()] == [SENT, SENT]
    assert {r.transport for r in env.records()} == {"smtp", "http"}



def test_the_cancellation_mail_carries_the_cancel_with_its_method_on_the_part(env: Env) -> None:
    cancel = ICS.replace(b"VERSION:2.0\r\n", b"VERSION:2.0\r\nMETHOD:CANCEL\r\n")
    with env.sessions() as session:
        dispatch.notify_booking_cancelled(session, env.queue, env.settings, booking(), cancel)
        session.commit()
    env.work()
    [message] = env.smtp.messages
    calendar = parts(message)["text/calendar"]
    assert calendar.get_param("method") == "CANCEL"
    assert calendar.get_filename() == "jadwal-BK-7K3F-9Q2M.ics"
    assert calendar.get_payload(decode=True) == cancel
    assert len(env.sms.messages()) == 1  # the SMS says it in words, with no file

def test_same_purpose_and_reference_is_recorded_and_sent_once(env: Env) -> None:
    request = MessageRequest("email", "budi@example.com", "submission_receipt", "REG-AAAA-BBBB",
                             "submission_receipt",
                             {"name": "Budi", "registration_number": "REG-AAAA-BBBB",
                              "receipt_url": "https://antrean.example.go.id/kwitansi"})
    with env.sessions() as session:
        first = dispatch.enqueue_message(session, env.queue, env.settings, request)
        second = dispatch.enqueue_message(session, env.queue, env.settings, request)
        session.commit()
    assert first is not None and second is None
    with env.sessions() as session:
        assert dispatch.enqueue_message(session, env.queue, env.settings, request) is None
        session.commit()
    # The same job enqueued twice more (a retried enqueue, an operator's double click).
    env.queue.enqueue(jobs.send_notification, first.id)
    env.queue.enqueue(jobs.send_notification, first.id)
    env.work()
    assert len(env.smtp.messages) == 1
    [record] = env.records()
    assert record.status == SENT and record.attempts == 1
    assert record.recipient_key == recipient_key(TEST_SECRET, "email", "budi@example.com")
    assert "budi" not in record.recipient_key


def test_nothing_is_enqueued_when_the_transaction_rolls_back(env: Env) -> None:
    with env.sessions() as session:
        dispatch.notify_booking_confirmed(session, env.queue, env.settings, booking(), ICS)
        session.rollback()
    assert env.queue.count == 0
    assert env.records() == []


def test_submission_receipt_carries_the_registration_number(env: Env) -> None:
    @dataclass
    class Submitted:
        name: str
        registration_number: str
        nik: str
        created_at: datetime
        data: dict[str, Any]

    submission = Submitted("Budi Santoso", "REG-7K3F-9Q2M", "3201234567890123",
                           datetime(2026, 8, 31, 16, 59, 30, tzinfo=UTC),
                           {"email": "budi@example.com", "telepon": "+6281234567891",
                            "nik": "3201234567890123"})
    seal = seal_of(str(env.settings.secret_key), env.settings.public_url, submission)
    with env.sessions() as session:
        dispatch.notify_submission_receipt(session, env.queue, env.settings, submission)
        session.commit()
    env.work()
    [message] = env.smtp.messages
    assert "REG-7K3F-9Q2M" in message["Subject"]
    text = parts(message)["text/plain"].get_content()
    assert "REG-7K3F-9Q2M" in text and seal.code in text and seal.url in text
    # 16.59 UTC on 31 August is 23.59 WIB: still the deadline's day, and it says so.
    assert "Senin, 31 Agustus 2026 pukul 23.59 WIB" in text
    [sms] = env.sms.messages()
    assert "REG-7K3F-9Q2M" in sms["message"] and "3201234567890123" not in sms["message"]


@pytest.mark.parametrize("mode", ["error", "slow", "closed"])
def test_sms_gateway_failure_is_retried_then_marked_failed_and_requeueable(
    env: Env, mode: str
) -> None:
    if mode == "closed":
        env.configure(sms_url=f"http://127.0.0.1:{free_port()}/send")
    else:
        env.sms.mode = mode
        env.sms.slow_seconds = 1.0
    record = send_one_sms(env)
    assert record.status == FAILED
    assert record.attempts == 3  # the first try and two retries (intervals "0,0")
    expected = {"error": "sms gateway answered 500", "slow": "sms gateway timed out",
                "closed": "sms gateway unreachable: ConnectionRefusedError"}[mode]
    assert record.last_error == expected
    assert "+62" not in (record.last_error or "")
    if mode != "closed":
        assert len(env.sms.requests) == 3
    with env.sessions() as session:
        assert [r.id for r in failed_notifications(session)] == [record.id]

    env.sms.mode = "ok"
    env.configure(sms_url=env.sms.url)
    with env.sessions() as session:
        assert dispatch.requeue(session, env.queue, env.settings, record.id)
        assert not dispatch.requeue(session, env.queue, env.settings, record.id)
        session.commit()
    env.work()
    [record] = env.records()
    assert record.status == SENT and record.attempts == 4 and record.last_error is None
    with env.sessions() as session:
        assert failed_notifications(session) == []


def test_an_sms_carrying_a_nik_is_refused_and_never_reaches_the_gateway(env: Env) -> None:
    request = MessageRequest("sms", "+6281234567890", "submission_receipt", "x",
                             "submission_receipt",
                             {"name": "Budi", "registration_number": "3201-2345-6789-0123",
                              "receipt_url": "https://antrean.example.go.id/kwitansi"})
    with env.sessions() as session:
        dispatch.enqueue_message(session, env.queue, env.settings, request)
        session.commit()
    env.work()
    [record] = env.records()
    assert record.status == FAILED and "16-digit" in (record.last_error or "")
    assert env.sms.requests == []


def send_one_sms(env: Env) -> Notification:
    with env.sessions() as session:
        dispatch.notify_booking_cancelled(session, env.queue, env.settings,
                                          booking(email=None))
        session.commit()
    env.work()
    [record] = env.records()
    return record


STATUS_RULE = SuccessRule(field="status", values=("ok", "sent", "queued"))


def test_a_200_that_says_failed_is_recorded_failed_and_retried(env: Env) -> None:
    env.configure(sms_success=STATUS_RULE)
    env.sms.answer = {"status": "failed", "to": "+6281234567890"}
    record = send_one_sms(env)
    assert record.status == FAILED and record.attempts == 3
    assert len(env.sms.requests) == 3
    assert record.last_error == "sms gateway answered 200 with status=failed"


def test_a_body_outside_the_pattern_is_failed_with_the_answer_summarised(env: Env) -> None:
    env.configure(sms_success=SuccessRule(pattern=re.compile(r'"accepted":\s*true')))
    env.sms.answer = {"accepted": False, "reason": "no credit for +6281234567890"}
    record = send_one_sms(env)
    assert record.status == FAILED
    assert record.last_error == ('sms gateway answered 200 not matching the success pattern: '
                                 '{"accepted": false, "reason": "no credit for <number>"}')
    assert "6281234567890" not in record.last_error


def test_a_matching_answer_is_sent(env: Env) -> None:
    env.configure(sms_success=STATUS_RULE)
    env.sms.answer = {"status": "Queued", "id": 7}
    record = send_one_sms(env)
    assert record.status == SENT and record.attempts == 1 and record.last_error is None


@pytest.mark.parametrize("mode", ["ok", "error"])
def test_url_credentials_travel_only_in_the_authorization_header(
    env: Env, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = env.sms.url.split(":")[2].split("/")[0]
    read = NotifySettings.from_env({
        "ANTREAN_ENV": "test", "ANTREAN_SECRET_KEY": TEST_SECRET,
        "ANTREAN_SMS_URL": f"http://gw-operator:s3cret%2Fpass@127.0.0.1:{port}/send"})
    assert read.sms_url == f"http://127.0.0.1:{port}/send"
    assert "s3cret" not in repr(read)
    env.configure(sms_url=read.sms_url, sms_basic_auth=read.sms_basic_auth)
    env.sms.mode = mode
    caplog.set_level(logging.DEBUG)
    record = send_one_sms(env)

    assert record.status == (SENT if mode == "ok" else FAILED)
    request = env.sms.requests[0]
    assert request["path"] == "/send"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(
        b"gw-operator:s3cret/pass").decode()
    assert request["headers"]["Host"] == f"127.0.0.1:{port}"
    assert "gw-operator" not in request["headers"]["Host"]
    for text in (caplog.text, record.last_error or "", record.recipient_key):
        assert "s3cret" not in text and "gw-operator" not in text


def test_user_info_left_in_a_url_is_still_lifted_out(env: Env) -> None:
    env.configure(sms_url=env.sms.url.replace("http://", "http://ops:pw@"))
    record = send_one_sms(env)
    assert record.status == SENT
    headers = env.sms.requests[0]["headers"]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ops:pw").decode()
    assert "@" not in headers["Host"]


def test_development_outbox_keeps_one_file_per_message(env: Env) -> None:
    env.configure(outbox=True)
    with env.sessions() as session:
        dispatch.notify_booking_confirmed(session, env.queue, env.settings, booking(), ICS)
        session.commit()
    env.work()
    entries = list_outbox(env.settings.outbox_dir)
    assert sorted(e.channel for e in entries) == ["email", "sms"]
    mail = next(e for e in entries if e.channel == "email")
    assert mail.recipient == "siti@example.com" and "Jadwal pendaftaran" in mail.subject
    parsed = BytesParser(policy=email.policy.default).parsebytes(mail.path.read_bytes())
    assert parts(parsed)["text/calendar"].get_payload(decode=True) == ICS
    assert env.smtp.messages == [] and env.sms.requests == []
    assert {r.transport for r in env.records()} == {"outbox"}
    assert not list(env.settings.outbox_dir.glob(".*.part"))


@pytest.mark.slow
def test_bulk_roster_batch_reports_progress_and_is_idempotent(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # A roster several enqueue pipelines long (a real one: thousands, 1000 per pipeline).
    monkeypatch.setattr(dispatch, "ENQUEUE_CHUNK", 100)
    # Progress and idempotency, not pacing (test_rate_limit_applies_to_real_sends): the
    # 20 e-mails a second of the default would make this a 13-second wait.
    env.configure(channel_rates={})
    start = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
    bookings = [booking(code=f"BK-{i:04d}", start=start + timedelta(minutes=15 * (i % 40)),
                        email=f"orang{i}@example.com", phone=None) for i in range(250)]
    with env.sessions() as session:
        batch_id, count = dispatch.notify_roster_scheduled(session, env.queue, env.settings,
                                                           bookings)
        session.commit()
        assert count == 250
        assert dispatch.batch_progress(session, batch_id).queued == 250
        assert env.queue.count == 250
    # A second scheduling run of the same roster adds nothing.
    with env.sessions() as session:
        _again, count = dispatch.notify_roster_scheduled(session, env.queue, env.settings,
                                                         bookings)
        session.commit()
    assert count == 0
    env.work()
    with env.sessions() as session:
        progress = dispatch.batch_progress(session, batch_id)
    assert (progress.sent, progress.failed, progress.queued, progress.total) == (250, 0, 0, 250)
    assert progress.done
    assert len(set(env.smtp.message_ids())) == len(env.smtp.messages) == 250


def test_token_bucket_spreads_a_burst_across_workers(redis_client: redis.Redis) -> None:
    now = [1_000.0]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    workers = [ChannelRateLimiter(redis_client, {"email": 10.0}, clock=lambda: now[0],
                                  sleep=sleep) for _ in range(3)]
    for i in range(40):
        assert workers[i % 3].wait_for_token("email")
    # 10 at once (one second's burst), then 30 more at 10 per second: about 3 seconds.
    assert 2.9 <= now[0] - 1_000.0 <= 3.8
    assert workers[0].try_take("sms") == 0  # no rate set: unlimited


def test_rate_limit_applies_to_real_sends(env: Env) -> None:
    env.configure(channel_rates={"email": 40.0, "sms": 0.0})
    requests = [MessageRequest("email", f"r{i}@example.com", "submission_receipt", f"R{i}",
                               "submission_receipt",
                               {"name": "R", "registration_number": f"R{i}",
                                "receipt_url": "https://x.example/kwitansi"})
                for i in range(80)]
    with env.sessions() as session:
        dispatch.enqueue_messages(session, env.queue, env.settings, requests)
        session.commit()
    began = datetime.now(UTC)
    env.work()
    elapsed = (datetime.now(UTC) - began).total_seconds()
    assert len(env.smtp.messages) == 80
    assert elapsed >= 0.9  # 40 at once, 40 more at 40 per second


def test_reminders_are_derived_from_bookings_and_sent_once(env: Env) -> None:
    slot = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    active = {"BK-1": booking("BK-1", slot, booked_at=slot - timedelta(days=5))}

    def source(since: datetime, until: datetime) -> list[BookingNotice]:
        return [b for b in active.values() if since <= b.slot_start <= until]

    def tick(now: datetime) -> int:
        with env.sessions() as session:
            count = enqueue_due_reminders(session, env.queue, env.settings, now, source)
            session.commit()
        env.work()
        return count

    assert tick(slot - timedelta(days=2)) == 0
    assert tick(slot - timedelta(hours=23)) == 2  # e-mail and SMS, the 1-day reminder
    assert tick(slot - timedelta(hours=22)) == 0  # every minute after: nothing new
    # Moved to the next day: the old slot's reminders are over, the new slot's start.
    moved = booking("BK-1", slot + timedelta(days=1), booked_at=slot - timedelta(days=5))
    with env.sessions() as session:
        dispatch.notify_booking_rescheduled(session, env.queue, env.settings, moved, slot, ICS)
        session.commit()
    active["BK-1"] = moved
    env.work()
    assert tick(slot - timedelta(minutes=20)) == 0  # the old slot's 30-minute reminder: none
    assert tick(moved.slot_start - timedelta(minutes=29)) == 2  # straight to the 30-minute one
    del active["BK-1"]  # cancelled
    assert tick(moved.slot_start - timedelta(minutes=10)) == 0
    purposes = sorted((r.purpose, r.reference.split(":", 1)[1][:10])
                      for r in env.records() if r.channel == "email")
    assert purposes == [("booking_reminder_1d", "2026-09-01"),
                        ("booking_reminder_30m", "2026-09-02"),
                        ("booking_rescheduled", "2026-09-01")]
    assert {r.status for r in env.records()} == {SENT}


def test_rescheduling_withdraws_a_queued_reminder_of_the_old_slot(env: Env) -> None:
    slot = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    old = booking("BK-2", slot, phone=None)
    with env.sessions() as session:
        enqueue_due_reminders(session, env.queue, env.settings, slot - timedelta(hours=2),
                              lambda _a, _b: [old])
        session.commit()
    with env.sessions() as session:  # moved before the worker got to the reminder
        dispatch.notify_booking_rescheduled(
            session, env.queue, env.settings,
            booking("BK-2", slot + timedelta(hours=4), phone=None), slot, None)
        session.commit()
    env.work()
    statuses = {r.purpose: r.status for r in env.records()}
    assert statuses == {"booking_reminder_1d": WITHDRAWN, "booking_rescheduled": SENT}
    assert len(env.smtp.messages) == 1


def test_recovery_requeues_what_a_crash_left_and_fences_the_old_claim(env: Env) -> None:
    requests = [MessageRequest("email", f"c{i}@example.com", "submission_receipt", f"C{i}",
                               "submission_receipt",
                               {"name": "C", "registration_number": f"C{i}",
                                "receipt_url": "https://x.example/kwitansi"})
                for i in range(3)]
    with env.sessions() as session:
        crashed, lost, taken = dispatch.enqueue_messages(session, env.queue, env.settings,
                                                         requests)
        session.commit()
    assert lost.job_id is not None and taken.job_id is not None
    Job.fetch(lost.job_id, connection=env.redis).delete()  # Redis lost this job
    # A worker took this one off the list and died before starting it.
    env.redis.lrem(env.queue.key, 0, taken.job_id)
    with env.sessions() as session:
        # A worker claimed the first, then died before the hand-over.
        old_fence = claim(session, crashed.id, timedelta(seconds=env.settings.lease_seconds))
        session.commit()
        assert old_fence == 1
    with env.sessions() as session:  # too early: the lease still runs
        dispatch.recover_stalled(session, env.queue, env.settings)
        session.commit()
    assert {r.status for r in env.records()} == {SENDING, QUEUED}
    later = datetime.now(UTC) + timedelta(seconds=env.settings.lease_seconds + 1)
    with env.sessions() as session:
        assert dispatch.recover_stalled(session, env.queue, env.settings, now=later) == 3
        session.commit()
    with env.sessions() as session:  # the dead worker's claim can no longer mark it sent
        assert claim(session, crashed.id, timedelta(minutes=5)) == 2
        assert not mark_sent(session, crashed.id, old_fence, "smtp")
        session.rollback()
    env.work()
    assert sorted(env.smtp.message_ids()) == sorted(
        f"<notification-{r.id}@antrean.example.go.id>" for r in env.records())
    assert {r.status for r in env.records()} == {SENT}
    with env.sessions() as session:  # nothing left to recover
        assert dispatch.recover_stalled(session, env.queue, env.settings, now=later) == 0


def test_outcomes_are_counted_as_the_jobs_record_them_and_metrics_show_them(
        env: Env, database_url: str, tmp_path: Path) -> None:
    env.sms.mode = "error"
    with env.sessions() as session:
        dispatch.notify_booking_confirmed(session, env.queue, env.settings, booking(), ICS)
        session.commit()
    env.work()
    app = create_app(make_settings(env.settings.redis_url or "", database_url, tmp_path))
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        text = client.get("/metrics").text
    counted = "antrean_notifications_total"
    assert value(text, counted, channel="email", outcome="sent") == 1
    assert value(text, counted, channel="sms", outcome="retried") == 2  # intervals "0,0"
    assert value(text, counted, channel="sms", outcome="failed") == 1
    assert value(text, counted, channel="sms", outcome="sent") == 0
