"""SQL tables of the queue: how to reach a waiting visitor who asked to be told."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models import Base

__all__ = ["QueueContact"]


class QueueContact(Base):
    """How to reach a waiting visitor who asked to be told when their turn opens."""

    __tablename__ = "queue_contacts"
    __table_args__ = (UniqueConstraint("room", "queue_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(String(64))
    queue_number: Mapped[int] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
