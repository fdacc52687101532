"""What the portal calls to send notifications; the caller owns the transaction.

Records are inserted in the caller's transaction and their RQ jobs are
enqueued only after it commits (a session ``after_commit`` hook), so a job
never looks for a record that is not there yet, and a rolled-back request
sends nothing. A crash between the commit and the enqueue leaves a queued
record without a job, which ``recover_stalled`` finds.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.utils import utcparse
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.form.seal import seal_of, stored_utc
from portal.notify.jobs import send_notification
from portal.notify.messages import claim_minutes
from portal.notify.models import Notification
from portal.notify.records import (
    Attachment,
    BatchProgress,
    MessageRequest,
    assign_job,
    batch_progress,
    expire_leases,
    failed_notifications,
    insert_many_once,
    insert_once,
    queued_before,
    reset_for_requeue,
    utcnow,
    withdraw,
)
from portal.notify.settings import NotifySettings

__all__ = [
    "BatchProgress",
    "BookingNotice",
    "MessageRequest",
    "batch_progress",
    "enqueue_message",
    "enqueue_messages",
    "failed_notifications",
    "notify_booking_cancelled",
    "notify_booking_confirmed",
    "notify_booking_rescheduled",
    "notify_identity_code",
    "notify_move_code",
    "notify_recovery_code",
    "notify_roster_scheduled",
    "notify_submission_receipt",
    "notify_turn_opened",
    "recover_stalled",
    "requeue",
    "withdraw_booking_messages",
]

log = logging.getLogger("antrean.notify")
_PENDING = "antrean.notify.pending"
_DEAD_JOB_STATES = {None, "finished", "failed", "stopped", "canceled"}


@dataclass(frozen=True)
class BookingNotice:
    """What a booking message needs, as plain values (the lead maps Booking rows to it)."""

    code: str
    slot_start: datetime
    slot_end: datetime
    name: str
    email: str | None = None
    phone: str | None = None
    booked_at: datetime | None = None
    manage_url: str | None = None

    @property
    def reference(self) -> str:
        """Booking code and slot start: a moved booking is a different subject."""
        return f"{self.code}:{slot_key(self.slot_start)}"


def slot_key(moment: datetime) -> str:
    """A slot start as it appears in references (UTC, seconds)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# Jobs sent to Redis in one pipeline: a roster of thousands goes in a few round trips
# without one reply growing past what Redis buffers comfortably.
ENQUEUE_CHUNK = 1000


def _retry(settings: NotifySettings) -> Retry | None:
    intervals = list(settings.retry_intervals)
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def _job_data(settings: NotifySettings, notification_id: int, job_id: str) -> Any:
    return Queue.prepare_data(
        send_notification, (notification_id,), job_id=job_id, retry=_retry(settings),
        timeout=settings.job_timeout_seconds, result_ttl=3600, failure_ttl=7 * 86400,
        description=f"notification {notification_id}",
    )


def _enqueue_now(queue: Queue, settings: NotifySettings, jobs: list[tuple[int, str]]) -> None:
    for start in range(0, len(jobs), ENQUEUE_CHUNK):
        chunk = jobs[start:start + ENQUEUE_CHUNK]
        try:
            with queue.connection.pipeline() as pipe:
                queue.enqueue_many([_job_data(settings, nid, jid) for nid, jid in chunk],
                                   pipeline=pipe)
                pipe.execute()
        except RedisError as exc:
            # The records are committed as queued; recover_stalled enqueues them later.
            log.warning("could not enqueue %d notification job(s): %s", len(chunk),
                        type(exc).__name__)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: the outer transaction may still roll back
    pending = session.info.pop(_PENDING, {})
    for (queue, settings), jobs in pending.values():
        _enqueue_now(queue, settings, jobs)


def _after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # only the SAVEPOINT's work is gone; jobs are added after a savepoint succeeds
    session.info.pop(_PENDING, None)


def enqueue_after_commit(session: Session, queue: Queue, settings: NotifySettings,
                         jobs: Iterable[tuple[int, str]]) -> None:
    """Enqueue (notification id, job id) pairs once the session's transaction commits."""
    if not event.contains(session, "after_commit", _after_commit):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    pending = session.info.setdefault(_PENDING, {})
    entry = pending.setdefault((id(queue), id(settings)), ((queue, settings), []))
    entry[1].extend(jobs)


def enqueue_message(session: Session, queue: Queue, settings: NotifySettings,
                    request: MessageRequest) -> Notification | None:
    """Record one message and enqueue its job on commit; None if it was already recorded."""
    record = insert_once(session, request, str(settings.secret_key))
    if record is None:
        return None
    assert record.job_id is not None
    enqueue_after_commit(session, queue, settings, [(record.id, record.job_id)])
    return record


def enqueue_messages(session: Session, queue: Queue, settings: NotifySettings,
                     requests: Sequence[MessageRequest]) -> list[Notification]:
    """Record many messages at once (skipping those already recorded); enqueue on commit."""
    records = insert_many_once(session, requests, str(settings.secret_key))
    enqueue_after_commit(session, queue, settings,
                         [(r.id, r.job_id) for r in records if r.job_id is not None])
    return records


def requeue(session: Session, queue: Queue, settings: NotifySettings,
            notification_id: int) -> bool:
    """Send a failed message again (an operator's button); False if it was not failed."""
    job_id = reset_for_requeue(session, notification_id)
    if job_id is None:
        return False
    enqueue_after_commit(session, queue, settings, [(notification_id, job_id)])
    return True


def _job_is_dead(status: bytes | None, started_at: bytes | None, now: datetime,
                 settings: NotifySettings) -> bool:
    text = status.decode() if status else None
    if text in _DEAD_JOB_STATES:
        return True
    if text == "started" and started_at:
        # A job runs at most its timeout; one "started" longer than that lost its worker.
        started = utcparse(started_at.decode()).replace(tzinfo=UTC)
        return started < now - timedelta(seconds=settings.job_timeout_seconds + 60)
    return False


def recover_stalled(session: Session, queue: Queue, settings: NotifySettings,
                    now: datetime | None = None, grace: timedelta = timedelta(minutes=1)) -> int:
    """Re-queue what a crash left behind; return how many jobs will be enqueued on commit.

    Two cases: ``sending`` past its lease (the worker died before the hand-over,
    so sending again cannot duplicate), and ``queued`` whose RQ job is gone
    (Redis lost its data, the enqueue after commit failed, the worker died
    before the claim).
    """
    now = now or utcnow()
    jobs = expire_leases(session, now)
    candidates = queued_before(session, now - grace)
    if candidates:
        with queue.connection.pipeline(transaction=False) as pipe:
            for _nid, job_id in candidates:
                pipe.hmget(Job.key_for(job_id or "missing"), ["status", "started_at"])
            states = pipe.execute()
        waiting: set[bytes] | None = None
        for (notification_id, job_id), (status, started_at) in zip(candidates, states,
                                                                    strict=True):
            dead = _job_is_dead(status, started_at, now, settings)
            if not dead and status == b"queued":
                # A worker killed between taking a job off the list and starting it leaves
                # the job "queued" in no list at all: only list membership proves it waits.
                if waiting is None:
                    waiting = {item if isinstance(item, bytes) else item.encode()
                               for item in queue.connection.lrange(queue.key, 0, -1)}
                dead = (job_id or "").encode() not in waiting
            if dead:
                jobs.append((notification_id, assign_job(session, notification_id)))
    if jobs:
        enqueue_after_commit(session, queue, settings, jobs)
        log.info("recovered %d notification(s)", len(jobs))
    return len(jobs)


def contact_requests(email: str | None, phone: str | None, *, purpose: str, reference: str,
                     template: str, context: dict[str, Any],
                     attachments: tuple[Attachment, ...] = (),
                     batch_id: str | None = None) -> list[MessageRequest]:
    """One request per contact given: e-mail (with attachments) and SMS."""
    requests = []
    if email:
        requests.append(MessageRequest("email", email, purpose, reference, template, context,
                                       attachments, batch_id))
    if phone:
        requests.append(MessageRequest("sms", phone, purpose, reference, template, context,
                                       (), batch_id))
    return requests


def booking_context(settings: NotifySettings, booking: BookingNotice) -> dict[str, Any]:
    """The template values of a booking message (times as ISO text, links absolute)."""
    return {
        "name": booking.name,
        "code": booking.code,
        "slot_start": booking.slot_start.isoformat(),
        "slot_end": booking.slot_end.isoformat(),
        "manage_url": booking.manage_url or f"{settings.public_url}/jadwal/{booking.code}",
        "book_url": f"{settings.public_url}/",
    }


def _ics(ics: bytes | None, code: str) -> tuple[Attachment, ...]:
    if not ics:
        return ()
    # iMIP (RFC 6047) wants the iTIP method on the MIME part too, as the file has it.
    method = Calendar.from_ical(ics).get("method")
    content_type = f"text/calendar; method={method}" if method else "text/calendar"
    return (Attachment(f"jadwal-{code}.ics", content_type, ics),)


def _send_all(session: Session, queue: Queue, settings: NotifySettings,
              requests: list[MessageRequest]) -> list[Notification]:
    return [record for request in requests
            if (record := enqueue_message(session, queue, settings, request)) is not None]


def notify_turn_opened(session: Session, queue: Queue, settings: NotifySettings, *,
                       room: str, queue_number: int, email: str | None, phone: str | None,
                       resume_path: str, claim_deadline: datetime,
                       claim_window: timedelta) -> list[Notification]:
    """Tell an admitted visitor their turn opened, with the link that lets them in."""
    context = {
        "queue_number": queue_number,
        "resume_url": settings.public_url + resume_path,
        "claim_deadline": claim_deadline.isoformat(),
        "claim_minutes": claim_minutes(claim_window),
    }
    return _send_all(session, queue, settings, contact_requests(
        email, phone, purpose="turn_opened", reference=f"{room}:{queue_number}",
        template="turn_opened", context=context))


def notify_booking_confirmed(session: Session, queue: Queue, settings: NotifySettings,
                             booking: BookingNotice, ics: bytes | None) -> list[Notification]:
    """Confirm a booking (the e-mail carries the ``.ics``)."""
    return _send_all(session, queue, settings, contact_requests(
        booking.email, booking.phone, purpose="booking_confirmed", reference=booking.reference,
        template="booking_confirmed", context=booking_context(settings, booking),
        attachments=_ics(ics, booking.code)))


def notify_booking_rescheduled(session: Session, queue: Queue, settings: NotifySettings,
                               booking: BookingNotice, old_start: datetime,
                               ics: bytes | None) -> list[Notification]:
    """Tell of a moved booking, and withdraw anything still queued about the old slot."""
    withdraw_booking_messages(session, booking.code, old_start)
    context = {**booking_context(settings, booking), "old_start": old_start.isoformat()}
    return _send_all(session, queue, settings, contact_requests(
        booking.email, booking.phone, purpose="booking_rescheduled",
        reference=f"{booking.code}:{slot_key(old_start)}>{slot_key(booking.slot_start)}",
        template="booking_rescheduled", context=context, attachments=_ics(ics, booking.code)))


def notify_booking_cancelled(session: Session, queue: Queue, settings: NotifySettings,
                             booking: BookingNotice,
                             ics: bytes | None = None) -> list[Notification]:
    """Tell of a cancelled booking (the e-mail carries the CANCEL), withdraw its reminders."""
    withdraw_booking_messages(session, booking.code, booking.slot_start)
    return _send_all(session, queue, settings, contact_requests(
        booking.email, booking.phone, purpose="booking_cancelled", reference=booking.reference,
        template="booking_cancelled", context=booking_context(settings, booking),
        attachments=_ics(ics, booking.code)))


def withdraw_booking_messages(session: Session, code: str, slot_start: datetime) -> int:
    """Stop queued reminders and notices about a booking's old slot; return how many."""
    return withdraw(session, f"{code}:{slot_key(slot_start)}")


def notify_submission_receipt(session: Session, queue: Queue, settings: NotifySettings,
                              submission: Any) -> list[Notification]:
    """Send the receipt of a finished registration with its registration number."""
    data = submission.data or {}
    seal = seal_of(str(settings.secret_key), settings.public_url, submission)
    context = {"name": submission.name, "registration_number": submission.registration_number,
               "receipt_url": f"{settings.public_url}/kwitansi",
               "received": slot_key(stored_utc(submission.created_at)), "seal_code": seal.code,
               "verify_url": seal.url}
    return _send_all(session, queue, settings, contact_requests(
        data.get("email"), data.get("telepon"), purpose="submission_receipt",
        reference=submission.registration_number, template="submission_receipt",
        context=context))


def notify_identity_code(session: Session, queue: Queue, settings: NotifySettings, *,
                         channel: str, address: str, code: str, minutes: int,
                         reference: str) -> list[Notification]:
    """Send a one-time code; the code leaves the record once it is sent (see mark_sent)."""
    return _send_all(session, queue, settings, [MessageRequest(
        channel, address, "identity_code", reference, "identity_code",
        {"otp": code, "minutes": minutes})])


def notify_move_code(session: Session, queue: Queue, settings: NotifySettings, *,
                     channel: str, address: str, code: str, queue_number: int, minutes: int,
                     reference: str) -> list[Notification]:
    """Send the code that moves a queue place to another device (forgotten once sent)."""
    return _send_all(session, queue, settings, [MessageRequest(
        channel, address, "move_code", reference, "move_code",
        {"otp": code, "minutes": minutes, "queue_number": queue_number})])


def notify_recovery_code(session: Session, queue: Queue, settings: NotifySettings, *,
                         channel: str, address: str, code: str,
                         reference: str) -> list[Notification]:
    """Send a draft's recovery code to the person's verified contact, once per reference."""
    return _send_all(session, queue, settings, [MessageRequest(
        channel, address, "recovery_code", reference, "recovery_code", {"otp": code})])


def notify_roster_scheduled(session: Session, queue: Queue, settings: NotifySettings,
                            bookings: Iterable[BookingNotice],
                            batch_id: str | None = None) -> tuple[str, int]:
    """Tell every scheduled registrant their slot, as one batch; return (batch id, count)."""
    batch_id = batch_id or f"roster-{uuid.uuid4().hex[:12]}"
    requests: list[MessageRequest] = []
    for booking in bookings:
        requests += contact_requests(
            booking.email, booking.phone, purpose="slot_assigned", reference=booking.reference,
            template="slot_assigned", context=booking_context(settings, booking),
            batch_id=batch_id)
    return batch_id, len(enqueue_messages(session, queue, settings, requests))
