"""What the booking API and the booking pages both do: check a contact, book, move, cancel.

The caller owns the transaction (``in_transaction`` is the one place that opens it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from portal.errors import ApiError
from portal.i18n import N_
from portal.identity.proof import proved
from portal.notify.events import announce_booking
from portal.state import PortalState
from portal.visitor.offers import (
    slot_json,
)
from portal.web import checked_fields
from scheduler.bookings import (
    BookingError,
    Contact,
    cancel_booking,
    find_booking,
    reschedule_booking,
)
from scheduler.codes import format_code
from scheduler.models import Booking, Slot
from scheduler.nik import validate_nik
from scheduler.roster import validate_email, validate_name, validate_phone

T = TypeVar("T")


def announce(state: PortalState, session: Session, booking: Booking, slot: Slot,
             moved_from: dt.datetime | None = None) -> None:
    """Queue the booking's message (sent after the caller's commit, once per slot)."""
    announce_booking(session, state.queue, state.notify, booking, slot, moved_from=moved_from)


def cancel(state: PortalState, session: Session, room: str, code: str, nik: str,
            now: dt.datetime) -> tuple[Booking, Slot]:
    booking, slot = cancel_booking(session, room, code, nik, now)
    announce(state, session, booking, slot)
    return booking, slot


def reschedule(state: PortalState, session: Session, room: str, code: str, nik: str,
                slot_id: int, now: dt.datetime) -> tuple[Booking, Slot]:
    old_start = find_booking(session, code, nik)[1].start
    booking, slot = reschedule_booking(session, room, code, nik, slot_id, now)
    if slot.start != old_start:
        announce(state, session, booking, slot, moved_from=old_start)
    return booking, slot


def in_transaction(db: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction: committed if it returns, rolled back if it raises."""
    with db() as session, session.begin():
        return work(session)


def booking_json(booking: Booking, slot: Slot, zone: ZoneInfo,
                 public_url: str) -> dict[str, Any]:
    """The public JSON form of a booking (no NIK, no contact details).

    The ``.ics`` link is absolute from the configured public address, never from
    the request's Host header, which the client chooses.
    """
    code = format_code(booking.code)
    return {
        "code": code,
        "status": booking.status,
        "slot": slot_json(slot, zone),
        "ics_url": f"{public_url}/api/v1/bookings/{code}.ics",
    }


def validate_contact(values: dict[str, Any]) -> tuple[Contact | None, dict[str, str]]:
    """Validate nik, name, phone and email; return the contact or the field errors."""
    cleaned, errors = checked_fields(values, (
        ("nik", validate_nik),
        ("name", validate_name),
        ("phone", validate_phone),
        ("email", validate_email),
    ), required=True)
    if errors:
        return None, errors
    return Contact(cleaned["nik"], cleaned["name"], cleaned["phone"], cleaned["email"]), {}


def invalid_fields(fields: dict[str, str]) -> ApiError:
    return ApiError(422, "invalid_fields", "Ada data yang tidak valid.", fields)


def api_error(exc: BookingError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


PROOF_NEEDED = N_("Buktikan dulu bahwa NIK ini milik Anda: minta kode verifikasi yang dikirim "
                  "ke kontak Anda, lalu pesan jadwal.")


def proof_required(state: PortalState, request: Request, nik: str) -> bool:
    """Whether booking for ``nik`` still needs this browser to prove the NIK first."""
    return not proved(str(state.settings.secret_key), request, nik)
