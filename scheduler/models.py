"""SQL tables the scheduler owns, and the declarative base every table shares."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names, so migrations are portable."""

    metadata = MetaData(naming_convention=NAMING)


class Registrant(Base):
    """A person on the agency's roster, or who booked without being on it.

    Only roster rows (``on_roster``) speak for a NIK: their phone and e-mail are
    where its codes go, and they are the people the scheduler assigns and counts.
    A row a booking created holds the contact the booker gave, which proves nothing.
    """

    __tablename__ = "registrants"

    id: Mapped[int] = mapped_column(primary_key=True)
    nik: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_kerja: Mapped[str | None] = mapped_column(String(200))
    instansi: Mapped[str | None] = mapped_column(String(200))
    jabatan: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    on_roster: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, so without this a value written aware comes back
    naive there and aware on PostgreSQL, and comparisons break on one of them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; refuse naive ones, whose zone is a guess."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        moment = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored instant as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ACTIVE = text("status = 'active'")


class CalendarSettings(Base):
    """The registration window of one room and what shapes its slots."""

    __tablename__ = "calendar_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(String(64), unique=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    slot_minutes: Mapped[int] = mapped_column(Integer)
    # Seven lists (Monday first) of ["HH:MM", "HH:MM"] intervals; "00:00" as end is midnight.
    working_plan: Mapped[list[list[list[str]]]] = mapped_column(JSON)
    holiday_weight: Mapped[float] = mapped_column(Float)
    # ISO date -> name of days the operator adds as holidays (blackouts are weight 0).
    extra_holidays: Mapped[dict[str, str]] = mapped_column(JSON)
    removed_holidays: Mapped[list[str]] = mapped_column(JSON)
    # ISO date -> capacity weight of that one day, beating the holiday weight (0 = closed).
    weight_overrides: Mapped[dict[str, float]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    min_notice_minutes: Mapped[int] = mapped_column(Integer)
    # The planned waiting-room numbers that size the slots. They are set with the
    # calendar, never taken from the live cap an operator lowers in an incident.
    planned_max_active: Mapped[int] = mapped_column(Integer, default=100,
                                                    server_default=text("100"))
    planned_booked_share: Mapped[float] = mapped_column(Float, default=0.3,
                                                        server_default=text("0.3"))
    planned_session_minutes: Mapped[float] = mapped_column(Float, default=20.0,
                                                           server_default=text("20"))
    # Local "HH:MM" hours ("00:00" as end is midnight) that bulk assignment and the
    # slots offered keep to; people booking themselves may take any open slot.
    assign_start: Mapped[str] = mapped_column(String(5), default="07:00",
                                              server_default=text("'07:00'"))
    assign_end: Mapped[str] = mapped_column(String(5), default="21:00",
                                            server_default=text("'21:00'"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Slot(Base):
    """A bookable time slot; ``booked`` > ``capacity`` only after the cap was lowered."""

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("room", "start"),
        Index("ix_slots_room_day", "room", "day"),
        CheckConstraint("booked >= 0", name="booked_not_negative"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    room: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    day: Mapped[date] = mapped_column(Date)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    holiday: Mapped[str | None] = mapped_column(String(200))

    @property
    def over_capacity(self) -> bool:
        """Whether more people hold this slot than it now has places for."""
        return self.booked > self.capacity

    @property
    def free(self) -> int:
        """Places still open in this slot (never negative)."""
        return max(0, self.capacity - self.booked)


class Booking(Base):
    """A registrant's appointment in a slot; the code is what the visitor keeps."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_slot_id", "slot_id"),
        # The database, not the code, guarantees one active booking per person.
        Index(
            "uq_bookings_active_registrant",
            "registrant_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        CheckConstraint("status IN ('active', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    registrant_id: Mapped[int] = mapped_column(ForeignKey("registrants.id"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # "self" when the visitor booked, "assigned" when the bulk scheduler did.
    source: Mapped[str] = mapped_column(String(16), default="self")
    # Contact given when booking; None means the roster's contact applies.
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    # When the person was told of this booking (its confirmation or the scheduler's
    # message); None for a booking nobody was told of, which then gets no reminders.
    told_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The SEQUENCE of the booking's calendar invites: 0 when made, one up with each
    # move or cancellation, so calendar apps replace the entry they already hold.
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now()
    )
