"""Where the portal's events meet the notification jobs: bookings, turns, receipts, reminders.

Each function takes the caller's session and adds idempotent notification
records; the jobs are enqueued only once the caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from rq import Queue
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from portal.agency import calendar_title
from portal.notify.dispatch import (
    BookingNotice,
    notify_booking_cancelled,
    notify_booking_confirmed,
    notify_booking_rescheduled,
    notify_roster_scheduled,
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


def booking_invite(booking: Booking, slot: Slot, settings: NotifySettings,
                   attendee: str | None) -> bytes:
    """The invite a booking's e-mail carries: REQUEST while active, CANCEL once cancelled."""
    return booking_ics(booking.code, slot.start, slot.end, f"{settings.public_url}/booking/cek",
                       tz=settings.timezone, stamp=booking.updated_at,
                       sequence=booking.sequence, cancelled=booking.status != "active",
                       organizer=settings.smtp_from, attendee=attendee,
                       title=calendar_title(settings.agency))


def announce_booking(session: Session, queue: Queue, settings: NotifySettings, booking: Booking,
                     slot: Slot, *, moved_from: dt.datetime | None = None) -> None:
    """Confirm a new, moved or cancelled booking to the person, once per slot."""
    notice = booking_notice(session, booking, slot, settings)
    invite = booking_invite(booking, slot, settings, notice.email)
    if booking.status != "active":
        notify_booking_cancelled(session, queue, settings, notice, invite)
        return
    booking.told_at = dt.datetime.now(dt.UTC)
    if moved_from is not None:
        notify_booking_rescheduled(session, queue, settings, notice, moved_from, invite)
    else:
        notify_booking_confirmed(session, queue, settings, notice, invite)


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
    """The source of reminders: active bookings whose slot starts in a window.

    Only bookings the person was told of: a reminder of a slot nobody announced
    (an operator scheduled it and chose not to notify) would be the first word of it.
    """

    def source(since: dt.datetime, until: dt.datetime) -> list[BookingNotice]:
        rows = session.execute(
            select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id).where(
                Slot.room == room, Booking.status == "active", Booking.told_at.is_not(None),
                Slot.start >= since, Slot.start < until)).all()
        return [booking_notice(session, booking, slot, settings) for booking, slot in rows]

    return source


def send_due_reminders(session: Session, queue: Queue, settings: NotifySettings, room: str,
                       now: dt.datetime) -> None:
    """Queue the reminders that are due and re-queue messages stuck by a dead worker."""
    enqueue_due_reminders(session, queue, settings, now, bookings_starting(session, room, settings))
    recover_stalled(session, queue, settings)


def announce_assigned(sessions: sessionmaker[Session], queue: Queue, settings: NotifySettings,
                      since: dt.datetime, batch_id: str, *, chunk: int = 5000,
                      progress: Callable[[int], None] | None = None) -> int:
    """Tell everyone the scheduler booked since ``since``, and nobody told yet, their slot.

    One batch id for all, in chunks so that two million bookings never sit in
    memory at once; each booking is marked told as its messages are recorded,
    so a second run (or a retried job) tells nobody twice. Returns the number of
    messages queued.
    """
    queued = last_id = 0
    while True:
        with sessions() as session:
            rows = session.execute(
                select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id)
                .where(Booking.source == "assigned", Booking.status == "active",
                       Booking.told_at.is_(None), Booking.created_at >= since,
                       Booking.id > last_id)
                .order_by(Booking.id).limit(chunk)).all()
            if not rows:
                return queued
            notices = [booking_notice(session, booking, slot, settings) for booking, slot in rows]
            _batch, count = notify_roster_scheduled(session, queue, settings, notices, batch_id)
            session.execute(update(Booking).where(
                Booking.id.in_([booking.id for booking, _slot in rows])).values(
                    told_at=dt.datetime.now(dt.UTC)).execution_options(
                        synchronize_session=False))
            session.commit()
        queued += count
        last_id = rows[-1][0].id
        if progress is not None:
            progress(queued)


def announce_assigned_job(since: str, batch_id: str) -> int:
    """What RQ runs when an operator schedules everyone from the console and chose to tell them."""
    from rq import get_current_job

    from portal.notify.jobs import current_runtime

    job = get_current_job()
    assert job is not None, "announce_assigned_job runs inside an RQ worker"
    runtime = current_runtime()
    queue = Queue(job.origin, connection=job.connection)  # the messages go where it came from
    return announce_assigned(runtime.sessions, queue, runtime.settings,
                             dt.datetime.fromisoformat(since), batch_id)
