"""Slots and bookings in the public JSON API (v1).

Personal data never goes into a URL: the NIK that proves a booking is the
caller's travels in the JSON body or the ``X-Antrean-NIK`` header, never in the
path or the query string.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.agency import calendar_title
from portal.attempts import BOOKING_CODE, allow_attempt
from portal.booking.actions import (
    PROOF_NEEDED,
    announce,
    api_error,
    booking_json,
    cancel,
    in_transaction,
    invalid_fields,
    proof_required,
    reschedule,
    validate_contact,
)
from portal.browser import client_address
from portal.errors import ApiError
from portal.routing import route
from portal.state import PortalState, state_of
from portal.visitor.offers import (
    slot_json,
    utc_now,
)
from portal.web import json_body
from scheduler.bookings import (
    BookingError,
    book_by_preference,
    book_slot,
    booking_by_code,
    find_booking,
)
from scheduler.codes import InvalidCode, format_code, parse_code
from scheduler.ics import booking_ics
from scheduler.models import Slot
from scheduler.nik import InvalidField, validate_nik
from scheduler.spreading import TIME_OF_DAY, SlotPreference
from scheduler.store import list_slots

NIK_HEADER = "X-Antrean-NIK"
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _preference(raw: Any) -> SlotPreference:
    """Read booking preferences from JSON; raise ApiError 422 naming the bad part."""
    if not isinstance(raw, dict):
        raise invalid_fields({"preferences": "Harus berupa objek."})
    try:
        dates = raw.get("dates")
        weekdays = raw.get("weekdays")
        hours = raw.get("hours")
        return SlotPreference(
            dates=frozenset(dt.date.fromisoformat(day) for day in dates) if dates else None,
            weekdays=frozenset(int(day) for day in weekdays) if weekdays else None,
            time_of_day=raw.get("time_of_day") or None,
            hours=(int(hours[0]), int(hours[1])) if hours else None,
            avoid_holidays=bool(raw.get("avoid_holidays", False)),
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise invalid_fields(
            {"preferences": "Pilihan tidak valid: dates (YYYY-MM-DD), weekdays (0-6), "
             "time_of_day (" + ", ".join(TIME_OF_DAY) + "), hours [awal, akhir]."}
        ) from exc
def _code(raw: str) -> str:
    try:
        return parse_code(raw)
    except InvalidCode as exc:
        # A code that cannot exist is as unknown as one that does not.
        raise ApiError(404, "not_found", "Kode pemesanan tidak ditemukan.") from exc
async def _guard(state: PortalState, request: Request, code: str) -> None:
    """Count a look-up by booking code per address and per code; refuse past the limit."""
    if not await allow_attempt(state.redis, state.keys, BOOKING_CODE,
                               client_address(request), code):
        raise ApiError(429, "too_many_attempts", "Terlalu banyak percobaan. Coba lagi nanti.",
                       headers={"Retry-After": str(BOOKING_CODE.seconds)})


def _owner_nik(request: Request, body: dict[str, Any] | None = None) -> str:
    raw = (body or {}).get("nik") or request.headers.get(NIK_HEADER, "")
    if not isinstance(raw, str) or not raw:
        raise invalid_fields({"nik": f"NIK pemilik wajib dikirim (badan JSON atau {NIK_HEADER})."})
    try:
        return validate_nik(raw)
    except InvalidField as exc:
        raise invalid_fields({"nik": exc.message}) from exc
def _slot_id(raw: Any, field: str = "slot_id") -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise invalid_fields({field: "Harus berupa nomor jadwal."})
    try:
        return int(raw)
    except ValueError as exc:
        raise invalid_fields({field: "Harus berupa nomor jadwal."}) from exc


async def api_slots(request: Request) -> Response:
    state = state_of(request)
    zone = state.settings.tz
    fields: dict[str, str] = {}
    days: dict[str, dt.date | None] = {}
    for name in ("from", "to"):
        raw = request.query_params.get(name)
        try:
            # Only YYYY-MM-DD (RFC 3339 full-date, as documented): fromisoformat also
            # reads 20240105 and week dates.
            if raw is not None and not ISO_DAY.fullmatch(raw):
                raise ValueError(raw)
            days[name] = dt.date.fromisoformat(raw) if raw is not None else None
        except ValueError:
            fields[name] = "Tanggal harus berformat YYYY-MM-DD."
    # Any two days are a range: one that ends before it begins holds no slot, and a
    # long one is as long as the registration window at most (slots are made only in
    # it), as is the list with no range at all.
    first, last = days.get("from"), days.get("to")
    if fields:
        raise invalid_fields(fields)
    room = state.settings.room
    slots = await run_in_threadpool(
        in_transaction, state.db, lambda session: list_slots(session, room, first, last)
    )
    return JSONResponse({"slots": [slot_json(slot, zone) for slot in slots]})


async def api_book(request: Request) -> Response:
    state = state_of(request)
    body = await json_body(request)
    contact, errors = validate_contact(body)
    has_slot = body.get("slot_id") not in (None, "")
    if not has_slot and body.get("preferences") is None:
        errors["slot_id"] = "Pilih jadwal (slot_id) atau kirim preferences."
    if errors or contact is None:
        raise invalid_fields(errors)
    if proof_required(state, request, contact.nik):
        # Asked before anything about the NIK is looked up: no answer tells a stranger
        # whether it is booked or registered.
        raise ApiError(403, "identity_required", PROOF_NEEDED)
    room, now, zone = state.settings.room, utc_now(), state.settings.tz
    public_url = state.notify.public_url
    if has_slot:
        slot_id = _slot_id(body["slot_id"])

        def work(session: Session) -> dict[str, Any]:
            booking = book_slot(session, room, contact, slot_id, now)
            slot = session.get_one(Slot, booking.slot_id)
            announce(state, session, booking, slot)
            return booking_json(booking, slot, zone, public_url)
    else:
        preference = _preference(body["preferences"])

        def work(session: Session) -> dict[str, Any]:
            booking = book_by_preference(session, room, contact, preference, now)
            slot = session.get_one(Slot, booking.slot_id)
            announce(state, session, booking, slot)
            return booking_json(booking, slot, zone, public_url)

    try:
        answer = await run_in_threadpool(in_transaction, state.db, work)
    except BookingError as exc:
        raise api_error(exc) from exc
    return JSONResponse(answer, status_code=201)


async def api_booking(request: Request) -> Response:
    state = state_of(request)
    code = _code(request.path_params["code"])
    await _guard(state, request, code)
    nik = _owner_nik(request)
    zone, public_url = state.settings.tz, state.notify.public_url
    try:
        answer = await run_in_threadpool(
            in_transaction, state.db,
            lambda session: booking_json(*find_booking(session, code, nik), zone, public_url),
        )
    except BookingError as exc:
        raise api_error(exc) from exc
    return JSONResponse(answer)


async def api_cancel(request: Request) -> Response:
    state = state_of(request)
    code = _code(request.path_params["code"])
    await _guard(state, request, code)
    nik = _owner_nik(request, await json_body(request))
    room, now, zone = state.settings.room, utc_now(), state.settings.tz
    public_url = state.notify.public_url
    try:
        answer = await run_in_threadpool(
            in_transaction, state.db,
            lambda session: booking_json(*cancel(state, session, room, code, nik, now), zone,
                                         public_url),
        )
    except BookingError as exc:
        raise api_error(exc) from exc
    return JSONResponse(answer)


async def api_reschedule(request: Request) -> Response:
    state = state_of(request)
    code = _code(request.path_params["code"])
    await _guard(state, request, code)
    body = await json_body(request)
    nik = _owner_nik(request, body)
    slot_id = _slot_id(body.get("slot_id"))
    room, now, zone = state.settings.room, utc_now(), state.settings.tz
    public_url = state.notify.public_url
    try:
        answer = await run_in_threadpool(
            in_transaction, state.db,
            lambda session: booking_json(
                *reschedule(state, session, room, code, nik, slot_id, now), zone, public_url
            ),
        )
    except BookingError as exc:
        raise api_error(exc) from exc
    return JSONResponse(answer)


def _ics_for(state: PortalState, code: str) -> bytes | None:
    """The booking's download: PUBLISH while active, CANCEL once cancelled (see scheduler.ics)."""
    with state.db() as session:
        found = booking_by_code(session, code)
    if found is None:
        return None
    booking, slot = found
    settings = state.notify
    return booking_ics(booking.code, slot.start, slot.end, f"{settings.public_url}/booking/cek",
                       state.settings.timezone, booking.updated_at, sequence=booking.sequence,
                       cancelled=booking.status != "active", organizer=settings.smtp_from,
                       title=calendar_title(settings.agency))


async def api_booking_ics(request: Request) -> Response:
    # The code alone is enough here: the file holds the slot time, the code and
    # the portal address, no personal data, and calendar apps cannot send a header.
    code = _code(request.path_params["code"])
    data = await run_in_threadpool(_ics_for, state_of(request), code)
    if data is None:
        raise ApiError(404, "not_found", "Kode pemesanan tidak ditemukan.")
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="jadwal-{format_code(code)}.ics"'},
    )


class BookingCode(StringConvertor):
    """A booking code in a path: one segment, never the calendar file's ``<code>.ics``.

    Without it ``/api/v1/bookings/K7M2-9QXA.ics`` would also be the booking
    "K7M2-9QXA.ics", and a 405 there would have to allow DELETE.
    """

    regex = r"[^/]+(?<!\.ics)"


register_url_convertor("booking_code", BookingCode())

routes = [
    Route("/api/v1/slots", api_slots, methods=["GET"]),
    Route("/api/v1/bookings", api_book, methods=["POST"]),
    Route("/api/v1/bookings/{code}.ics", api_booking_ics, methods=["GET"]),
    route("/api/v1/bookings/{code:booking_code}", {"GET": api_booking, "DELETE": api_cancel}),
    Route("/api/v1/bookings/{code}/reschedule", api_reschedule, methods=["POST"]),
]
