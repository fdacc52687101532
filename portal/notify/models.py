"""The notification record: one row per recipient, purpose and reference, ever."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models import Base

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
# Never sent because its subject changed first (a booking moved or cancelled).
WITHDRAWN = "withdrawn"
STATUSES = (QUEUED, SENDING, SENT, FAILED, WITHDRAWN)


class Notification(Base):
    """A message to one recipient, and how far its delivery got.

    The unique key is the idempotency record: a second request for the same
    channel, recipient, purpose and reference finds this row and sends nothing.
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("channel", "recipient_key", "purpose", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    # Keyed hash of the address: what logs and listings show instead of it.
    recipient_key: Mapped[str] = mapped_column(String(64))
    # The address itself is kept because the job must send to it.
    address: Mapped[str] = mapped_column(String(254))
    purpose: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(160))
    template: Mapped[str] = mapped_column(String(40))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"filename", "content_type", "data" (base64)}], e.g. the booking's .ics.
    attachments: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED, index=True)
    # Incremented by every claim; the claim's value fences a job that outlived its lease.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64))
    transport: Mapped[str | None] = mapped_column(String(8))  # smtp | http | outbox
    last_error: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
