"""SQL around the notification record; the caller owns the transaction unless noted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.notify.models import FAILED, QUEUED, SENDING, SENT, WITHDRAWN, Notification


def _changed(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE changed (its result is a cursor's, whatever the
    typing of the SQLAlchemy release says)."""
    return cast("CursorResult[Any]", result).rowcount


def utcnow() -> datetime:
    """The current time, aware, in UTC (the only zone stored)."""
    return datetime.now(UTC)


def recipient_key(secret: str, channel: str, address: str) -> str:
    """Keyed hash of an address: stable per recipient, useless to whoever reads the logs."""
    message = f"{channel}:{address.strip().lower()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def new_job_id(notification_id: int | None = None) -> str:
    """A fresh RQ job id; every (re-)queueing gets its own, so old jobs never collide."""
    prefix = f"notify-{notification_id}-" if notification_id is not None else "notify-"
    return prefix + uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Attachment:
    """A file attached to an e-mail (e.g. the booking's ``.ics``)."""

    filename: str
    content_type: str
    data: bytes

    def as_json(self) -> dict[str, str]:
        """The JSON form kept on the record."""
        return {"filename": self.filename, "content_type": self.content_type,
                "data": base64.b64encode(self.data).decode()}

    @classmethod
    def from_json(cls, value: dict[str, str]) -> Attachment:
        """Read the JSON form back."""
        return cls(value["filename"], value["content_type"], base64.b64decode(value["data"]))


@dataclass(frozen=True)
class MessageRequest:
    """One message to one address, for one purpose about one reference."""

    channel: str  # email | sms
    address: str
    purpose: str
    reference: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    batch_id: str | None = None


def _row(request: MessageRequest, secret: str, now: datetime) -> dict[str, Any]:
    return {
        "channel": request.channel,
        "recipient_key": recipient_key(secret, request.channel, request.address),
        "address": request.address,
        "purpose": request.purpose,
        "reference": request.reference,
        "template": request.template,
        "context": request.context,
        "attachments": [a.as_json() for a in request.attachments] or None,
        "batch_id": request.batch_id,
        "status": QUEUED,
        "attempts": 0,
        "job_id": new_job_id(),
        "created_at": now,
        "updated_at": now,
    }


def _key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (row["channel"], row["recipient_key"], row["purpose"], row["reference"])


def insert_once(session: Session, request: MessageRequest, secret: str) -> Notification | None:
    """Insert the record; None when one already exists for its key (ON CONFLICT DO NOTHING)."""
    inserted = insert_many_once(session, [request], secret)
    return inserted[0] if inserted else None


def insert_many_once(session: Session, requests: Sequence[MessageRequest],
                     secret: str) -> list[Notification]:
    """Insert the records not yet present; return the new ones (thousands at a time)."""
    now = utcnow()
    rows = list({_key(row): row for row in (_row(r, secret, now) for r in requests)}.values())
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        # Both speak INSERT ... ON CONFLICT DO NOTHING ... RETURNING: one statement per
        # chunk, and no SAVEPOINT (pysqlite's SAVEPOINT outside BEGIN would commit early).
        make_insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
        inserted: list[Notification] = []
        for start in range(0, len(rows), 500):
            statement = make_insert(Notification).on_conflict_do_nothing().returning(Notification)
            inserted += session.scalars(statement, rows[start:start + 500]).all()
        return inserted
    return [record for row in rows if (record := _insert_in_savepoint(session, row)) is not None]


def _insert_in_savepoint(session: Session, row: dict[str, Any]) -> Notification | None:
    record = Notification(**row)
    try:
        # A SAVEPOINT keeps the caller's transaction usable after a duplicate.
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        return None
    return record


def claim(session: Session, notification_id: int, lease: timedelta) -> int | None:
    """Move a queued record to ``sending``; return the claim's fence, or None if not queued."""
    now = utcnow()
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == QUEUED)
        .values(status=SENDING, attempts=Notification.attempts + 1, lease_until=now + lease,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if _changed(result) != 1:
        return None
    fence = session.scalar(select(Notification.attempts).where(Notification.id == notification_id))
    return int(fence) if fence is not None else None


def mark_sent(session: Session, notification_id: int, fence: int, transport: str) -> bool:
    """Record the send as done, only if this claim still holds; False when superseded."""
    now = utcnow()
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == SENDING,
               Notification.attempts == fence)
        .values(status=SENT, sent_at=now, updated_at=now, lease_until=None, transport=transport,
                last_error=None)
        .execution_options(synchronize_session=False)
    )
    if _changed(result) != 1:
        return False
    _forget_secrets(session, notification_id)
    return True


# Context keys that hold a secret the message carried (a one-time code): kept only until
# the message is sent, so neither the database nor the console's log can replay it.
SECRET_CONTEXT_KEYS = ("otp",)


def _forget_secrets(session: Session, notification_id: int) -> None:
    record = session.get(Notification, notification_id)
    if record is None or not any(key in (record.context or {}) for key in SECRET_CONTEXT_KEYS):
        return
    record.context = {key: ("•" * 6 if key in SECRET_CONTEXT_KEYS else value)
                      for key, value in record.context.items()}
    session.flush()


def mark_unsent(session: Session, notification_id: int, fence: int, error: str,
                final: bool) -> bool:
    """After a failed try: back to ``queued`` for the next retry, or ``failed`` after the last."""
    now = utcnow()
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.attempts == fence,
               Notification.status.in_((SENDING, SENT)))
        .values(status=FAILED if final else QUEUED, last_error=error[:200], updated_at=now,
                lease_until=None, sent_at=None)
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def failed_notifications(session: Session, limit: int = 200) -> list[Notification]:
    """Messages that gave up after their last try, newest first (for the operators)."""
    return list(session.scalars(
        select(Notification).where(Notification.status == FAILED)
        .order_by(Notification.updated_at.desc(), Notification.id.desc()).limit(limit)
    ))


def reset_for_requeue(session: Session, notification_id: int) -> str | None:
    """Put a failed record back to ``queued`` with a fresh job id; None if it was not failed."""
    job_id = new_job_id(notification_id)
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == FAILED)
        .values(status=QUEUED, job_id=job_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return job_id if _changed(result) == 1 else None


def expire_leases(session: Session, now: datetime) -> list[tuple[int, str]]:
    """Return ``sending`` records whose lease ran out to ``queued``; their (id, new job id).

    Safe to send again: ``sent`` is committed before the provider gets the final
    byte of a message, so a record still ``sending`` was never handed over.
    """
    stuck = list(session.scalars(
        select(Notification.id).where(Notification.status == SENDING,
                                      Notification.lease_until < now)
    ))
    requeued = []
    for notification_id in stuck:
        job_id = new_job_id(notification_id)
        result = session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == SENDING,
                   Notification.lease_until < now)
            .values(status=QUEUED, job_id=job_id, updated_at=now, lease_until=None,
                    last_error="lease expired (worker stopped)")
            .execution_options(synchronize_session=False)
        )
        if _changed(result) == 1:
            requeued.append((notification_id, job_id))
    return requeued


def queued_before(session: Session, when: datetime) -> list[tuple[int, str | None]]:
    """Queued records untouched since ``when``: (id, job id) for checking their jobs."""
    return [(row[0], row[1]) for row in session.execute(
        select(Notification.id, Notification.job_id)
        .where(Notification.status == QUEUED, Notification.updated_at < when)
    )]


def assign_job(session: Session, notification_id: int) -> str:
    """Give a queued record a fresh job id (its old job is gone) and return it."""
    job_id = new_job_id(notification_id)
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == QUEUED)
        .values(job_id=job_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return job_id


@dataclass(frozen=True)
class BatchProgress:
    """How far a bulk send got."""

    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        """Every message of the batch."""
        return self.queued + self.sending + self.sent + self.failed

    @property
    def done(self) -> bool:
        """Whether nothing is left to send."""
        return self.queued == 0 and self.sending == 0


def batch_progress(session: Session, batch_id: str) -> BatchProgress:
    """Counts of queued, sending, sent and failed messages of a batch."""
    counts: dict[str, int] = dict((status, count) for status, count in session.execute(
        select(Notification.status, func.count()).where(Notification.batch_id == batch_id)
        .group_by(Notification.status)
    ).all())
    return BatchProgress(queued=counts.get(QUEUED, 0), sending=counts.get(SENDING, 0),
                         sent=counts.get(SENT, 0), failed=counts.get(FAILED, 0))


def withdraw(session: Session, reference: str) -> int:
    """Stop every queued message about ``reference`` (e.g. an old slot's); return how many."""
    result = session.execute(
        update(Notification)
        .where(Notification.status == QUEUED, Notification.reference == reference)
        .values(status=WITHDRAWN, updated_at=utcnow(), last_error="withdrawn: subject changed")
        .execution_options(synchronize_session=False)
    )
    return int(_changed(result))
