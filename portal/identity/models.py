"""SQL tables of identity: the contact that proved a NIK not on the roster, and contests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models import Base, UTCDateTime

__all__ = ["IdentityBinding", "IdentityContest"]


class IdentityBinding(Base):
    """For a NIK not on the roster: the first contact that proved it with a code."""

    __tablename__ = "identity_bindings"

    id: Mapped[int] = mapped_column(primary_key=True)
    nik: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    address: Mapped[str] = mapped_column(String(254))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class IdentityContest(Base):
    """Someone asked for a bound NIK's code with another contact: for operators to judge."""

    __tablename__ = "identity_contests"

    id: Mapped[int] = mapped_column(primary_key=True)
    nik: Mapped[str] = mapped_column(String(16), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(254))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    times: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(16))  # rebound | dismissed
