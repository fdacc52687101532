"""Reminders before a booked slot, derived from the database each minute (not kept in Redis)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rq import Queue
from sqlalchemy.orm import Session

from portal.notify.dispatch import (
    BookingNotice,
    booking_context,
    contact_requests,
    enqueue_messages,
)
from portal.notify.records import MessageRequest
from portal.notify.settings import NotifySettings, offset_label

BookingsSource = Callable[[datetime, datetime], Iterable[BookingNotice]]


@dataclass(frozen=True)
class DueReminder:
    """A reminder that should go out now."""

    booking: BookingNotice
    offset: timedelta

    @property
    def purpose(self) -> str:
        """E.g. ``booking_reminder_1d``."""
        return f"booking_reminder_{offset_label(self.offset)}"


def due_reminders(now: datetime, bookings: Iterable[BookingNotice],
                  offsets: Iterable[timedelta]) -> list[DueReminder]:
    """The reminders due at ``now``: per booking, only the closest offset already reached.

    A booking made after an offset's moment does not get that reminder (its
    confirmation said it all); a slot already begun gets none; after a long
    outage the late 1-day reminder is dropped in favour of the 30-minute one.
    """
    offsets = sorted(offsets)
    due = []
    for booking in bookings:
        if booking.slot_start <= now:
            continue
        for offset in offsets:  # smallest first: the closest reminder wins
            moment = booking.slot_start - offset
            if moment > now:
                continue
            if booking.booked_at is not None and booking.booked_at > moment:
                continue
            due.append(DueReminder(booking, offset))
            break
    return due


def reminder_requests(settings: NotifySettings, due: Iterable[DueReminder]) -> list[MessageRequest]:
    """The messages (e-mail and SMS) of due reminders."""
    requests: list[MessageRequest] = []
    for reminder in due:
        booking = reminder.booking
        requests += contact_requests(
            booking.email, booking.phone, purpose=reminder.purpose, reference=booking.reference,
            template="booking_reminder", context=booking_context(settings, booking))
    return requests


def enqueue_due_reminders(session: Session, queue: Queue, settings: NotifySettings,
                          now: datetime, bookings_source: BookingsSource) -> int:
    """Record and enqueue the reminders due at ``now``; return how many are new.

    ``bookings_source(now, until)`` returns the active bookings whose slot starts
    in that window. Reminders already recorded are skipped by their unique key,
    so calling this every minute (from any number of loops) sends each once.
    """
    offsets = settings.reminder_offsets
    if not offsets:
        return 0
    bookings = list(bookings_source(now, now + max(offsets)))
    requests = reminder_requests(settings, due_reminders(now, bookings, offsets))
    if not requests:
        return 0
    return len(enqueue_messages(session, queue, settings, requests))
