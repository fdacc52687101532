"""Where the portal's events meet the notification jobs: bookings, turns, receipts, reminders.

Each function takes the caller's session and adds idempotent notification
records; the jobs are enqueued only once the caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.notify.dispatch import (
    BookingNotice,
    notify_booking_cancelled,
    notify_booking_confirmed,
    notify_booking_rescheduled,
    notify_turn_opened,
    recover_stalled,
)
from portal.notify.reminders import enqueue_due_reminders
from portal.notify.settings import NotifySettings
from portal.visitor.models import QueueContact
from scheduler.codes import format_code
from scheduler.ics import booking_ics
from scheduler.models import Booking, Registrant, Slot
from waitroom.tokens import TokenSigner

log = logging.getLogger("antrean.notices")


def booking_notice(session: Session, booking: Booking, slot: Slot,
                   settings: NotifySettings) -> BookingNotice:
    """A booking as its messages need it: the contact given when booking, else the roster's."""
    person = session.get(Registrant, booking.registrant_id)
    return BookingNotice(
        code=format_code(booking.code),
        slot_start=slot.start,
        slot_end=slot.end,
        name=booking.name or (person.name if person else ""),
        email=booking.email or (person.email if person else None),
        phone=booking.phone or (person.phone if person else None),
        booked_at=booking.created_at,
        manage_url=f"{settings.public_url}/booking/cek",
    )


def _ics(notice: BookingNotice, settings: NotifySettings) -> bytes:
    return booking_ics(notice.code, notice.slot_start, notice.slot_end, settings.public_url,
                       tz=settings.timezone)


def announce_booking(session: Session, queue: Queue, settings: NotifySettings, booking: Booking,
                     slot: Slot, *, moved_from: dt.datetime | None = None) -> None:
    """Confirm a new, moved or cancelled booking to the person, once per slot."""
    notice = booking_notice(session, booking, slot, settings)
    if booking.status != "active":
        notify_booking_cancelled(session, queue, settings, notice)
    elif moved_from is not None:
        notify_booking_rescheduled(session, queue, settings, notice, moved_from,
                                   _ics(notice, settings))
    else:
        notify_booking_confirmed(session, queue, settings, notice, _ics(notice, settings))


def remember_contact(session: Session, room: str, number: int, email: str | None,
                     phone: str | None) -> None:
    """Keep how to reach a waiting visitor (in SQL: Redis holds no contact in clear)."""
    existing = session.scalars(select(QueueContact).where(
        QueueContact.room == room, QueueContact.queue_number == number)).one_or_none()
    if existing is None:
        session.add(QueueContact(room=room, queue_number=number, email=email, phone=phone))
    else:
        existing.email, existing.phone = email or existing.email, phone or existing.phone
    session.flush()


def send_turn_notices(session: Session, queue: Queue, settings: NotifySettings,
                      signer: TokenSigner, room: str, due: list[tuple[int, int]],
                      claim_window: dt.timedelta) -> int:
    """Tell admitted visitors who asked, with a link that lets them in; return how many."""
    sent = 0
    numbers = [number for number, _deadline in due]
    contacts = {c.queue_number: c for c in session.scalars(select(QueueContact).where(
        QueueContact.room == room, QueueContact.queue_number.in_(numbers)))}
    for number, deadline_ms in due:
        contact = contacts.get(number)
        if contact is None:
            continue
        deadline = dt.datetime.fromtimestamp(deadline_ms / 1000, dt.UTC)
        link = signer.resume_token(room, number, deadline_ms // 1000)
        notify_turn_opened(session, queue, settings, room=room, queue_number=number,
                           email=contact.email, phone=contact.phone,
                           resume_path=f"/antre/lanjut/{link}", claim_deadline=deadline,
                           claim_window=claim_window)
        sent += 1
    return sent


def bookings_starting(session: Session, room: str, settings: NotifySettings) -> Callable[
        [dt.datetime, dt.datetime], list[BookingNotice]]:
    """The source of reminders: active bookings whose slot starts in a window."""

    def source(since: dt.datetime, until: dt.datetime) -> list[BookingNotice]:
        rows = session.execute(
            select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id).where(
                Slot.room == room, Booking.status == "active",
                Slot.start >= since, Slot.start < until)).all()
        return [booking_notice(session, booking, slot, settings) for booking, slot in rows]

    return source


def send_due_reminders(session: Session, queue: Queue, settings: NotifySettings, room: str,
                       now: dt.datetime) -> None:
    """Queue the reminders that are due and re-queue messages stuck by a dead worker."""
    enqueue_due_reminders(session, queue, settings, now, bookings_starting(session, room, settings))
    recover_stalled(session, queue, settings)
