"""SQL tables of the registration form: drafts and submissions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models import Base, Registrant

__all__ = ["Base", "Draft", "Registrant", "Submission"]


class Draft(Base):
    """What a visitor has typed so far, saved as they type; never thrown away."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Tag of the browser secret that typed it: a draft follows its browser
    # across sessions and re-admissions without any personal data in the key.
    owner: Mapped[str] = mapped_column(String(64), unique=True)
    nik: Mapped[str | None] = mapped_column(String(16), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Submission(Base):
    """A finished registration; one per NIK, and one per submit attempt key."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_number: Mapped[str] = mapped_column(String(24), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    nik: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    queue_number: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
