"""Slots and bookings: the JSON API (v1) and the visitor's booking pages.

Personal data never goes into a URL: the NIK that proves a booking is the
caller's travels in the JSON body, the ``X-Antrean-NIK`` header or a POSTed
form, never in the path or the query string.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.browser import QUEUE_COOKIE, browser_of, queue_ticket
from portal.errors import ApiError, error_page
from portal.forms import N_
from portal.notices import announce_booking
from portal.offers import (
    offer_for_wait,
    offers_for_page,
    queue_eta_seconds,
    room_name,
    slot_json,
    slot_label,
    utc_now,
    zone_of,
)
from portal.queueing import (
    CLOSED_MESSAGE,
    REDIS_DOWN,
    join_queue,
    room_of,
    store_queue_token,
)
from portal.web import Refused, checked_form, json_body, refusal_page, render
from scheduler.bookings import (
    BookingError,
    BookingNotFound,
    Contact,
    book_by_preference,
    book_slot,
    booking_by_code,
    cancel_booking,
    find_booking,
    reschedule_booking,
)
from scheduler.codes import InvalidCode, format_code, parse_code
from scheduler.ics import booking_ics
from scheduler.models import Booking, Slot
from scheduler.nik import InvalidField, validate_nik
from scheduler.roster import validate_email, validate_name, validate_phone
from scheduler.spreading import TIME_OF_DAY, SlotPreference
from scheduler.store import list_slots
from waitroom.room import JoinRateLimited, QueueClosed
from waitroom.tokens import TokenError

log = logging.getLogger("antrean.portal")

NIK_HEADER = "X-Antrean-NIK"
MAX_RANGE_DAYS = 92
T = TypeVar("T")


# --- Shared helpers -------------------------------------------------------------


def _announce(request: Request, session: Session, booking: Booking, slot: Slot,
              moved_from: dt.datetime | None = None) -> None:
    """Queue the booking's message (sent after the caller's commit, once per slot)."""
    announce_booking(session, request.app.state.queue, request.app.state.notify, booking, slot,
                     moved_from=moved_from)


def _cancel(request: Request, session: Session, room: str, code: str, nik: str,
            now: dt.datetime) -> tuple[Booking, Slot]:
    booking, slot = cancel_booking(session, room, code, nik, now)
    _announce(request, session, booking, slot)
    return booking, slot


def _reschedule(request: Request, session: Session, room: str, code: str, nik: str,
                slot_id: int, now: dt.datetime) -> tuple[Booking, Slot]:
    old_start = find_booking(session, code, nik)[1].start
    booking, slot = reschedule_booking(session, room, code, nik, slot_id, now)
    if slot.start != old_start:
        _announce(request, session, booking, slot, moved_from=old_start)
    return booking, slot


def _in_transaction(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction: committed if it returns, rolled back if it raises."""
    with request.app.state.db() as session, session.begin():
        return work(session)


def booking_json(booking: Booking, slot: Slot, zone: ZoneInfo) -> dict[str, Any]:
    """The public JSON form of a booking (no NIK, no contact details)."""
    code = format_code(booking.code)
    return {
        "code": code,
        "status": booking.status,
        "slot": slot_json(slot, zone),
        "ics_url": f"/api/v1/bookings/{code}.ics",
    }


def _contact(values: dict[str, Any]) -> tuple[Contact | None, dict[str, str]]:
    """Validate nik, name, phone and email; return the contact or the field errors."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    checks: tuple[tuple[str, Callable[[str], Any]], ...] = (
        ("nik", validate_nik),
        ("name", validate_name),
        ("phone", validate_phone),
        ("email", validate_email),
    )
    for name, validate in checks:
        value = values.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = "Harus berupa teks."
            continue
        try:
            cleaned[name] = validate(value)
        except InvalidField as exc:
            errors[name] = exc.message
    if errors:
        return None, errors
    return Contact(cleaned["nik"], cleaned["name"], cleaned["phone"], cleaned["email"]), {}


def _preference(raw: Any) -> SlotPreference:
    """Read booking preferences from JSON; raise ApiError 422 naming the bad part."""
    if not isinstance(raw, dict):
        raise _invalid({"preferences": "Harus berupa objek."})
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
        raise _invalid(
            {"preferences": "Pilihan tidak valid: dates (YYYY-MM-DD), weekdays (0-6), "
             "time_of_day (" + ", ".join(TIME_OF_DAY) + "), hours [awal, akhir]."}
        ) from exc


def _invalid(fields: dict[str, str]) -> ApiError:
    return ApiError(422, "invalid_fields", "Ada data yang tidak valid.", fields)


def _api_error(exc: BookingError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _code(raw: str) -> str:
    try:
        return parse_code(raw)
    except InvalidCode as exc:
        # A code that cannot exist is as unknown as one that does not.
        raise ApiError(404, "not_found", "Kode pemesanan tidak ditemukan.") from exc


def _owner_nik(request: Request, body: dict[str, Any] | None = None) -> str:
    raw = (body or {}).get("nik") or request.headers.get(NIK_HEADER, "")
    if not isinstance(raw, str) or not raw:
        raise _invalid({"nik": f"NIK pemilik wajib dikirim (badan JSON atau {NIK_HEADER})."})
    try:
        return validate_nik(raw)
    except InvalidField as exc:
        raise _invalid({"nik": exc.message}) from exc


def _slot_id(raw: Any, field: str = "slot_id") -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise _invalid({field: "Harus berupa nomor jadwal."})
    try:
        return int(raw)
    except ValueError as exc:
        raise _invalid({field: "Harus berupa nomor jadwal."}) from exc


# --- JSON API -----------------------------------------------------------------


async def api_slots(request: Request) -> Response:
    zone = zone_of(request)
    fields: dict[str, str] = {}
    days: dict[str, dt.date | None] = {}
    for name in ("from", "to"):
        raw = request.query_params.get(name)
        try:
            days[name] = dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            fields[name] = "Tanggal harus berformat YYYY-MM-DD."
    first, last = days.get("from"), days.get("to")
    if first and last and last < first:
        fields["to"] = "Tanggal akhir tidak boleh sebelum tanggal awal."
    elif first and last and (last - first).days > MAX_RANGE_DAYS:
        fields["to"] = f"Rentang paling lama {MAX_RANGE_DAYS} hari."
    if fields:
        raise _invalid(fields)
    room = room_name(request)
    slots = await run_in_threadpool(
        _in_transaction, request, lambda session: list_slots(session, room, first, last)
    )
    return JSONResponse({"slots": [slot_json(slot, zone) for slot in slots]})


async def api_book(request: Request) -> Response:
    body = await json_body(request)
    contact, errors = _contact(body)
    has_slot = body.get("slot_id") not in (None, "")
    if not has_slot and body.get("preferences") is None:
        errors["slot_id"] = "Pilih jadwal (slot_id) atau kirim preferences."
    if errors or contact is None:
        raise _invalid(errors)
    room, now, zone = room_name(request), utc_now(), zone_of(request)
    if has_slot:
        slot_id = _slot_id(body["slot_id"])

        def work(session: Session) -> dict[str, Any]:
            booking = book_slot(session, room, contact, slot_id, now)
            slot = session.get_one(Slot, booking.slot_id)
            _announce(request, session, booking, slot)
            return booking_json(booking, slot, zone)
    else:
        preference = _preference(body["preferences"])

        def work(session: Session) -> dict[str, Any]:
            booking = book_by_preference(session, room, contact, preference, now)
            slot = session.get_one(Slot, booking.slot_id)
            _announce(request, session, booking, slot)
            return booking_json(booking, slot, zone)

    try:
        answer = await run_in_threadpool(_in_transaction, request, work)
    except BookingError as exc:
        raise _api_error(exc) from exc
    return JSONResponse(answer, status_code=201)


async def api_booking(request: Request) -> Response:
    code = _code(request.path_params["code"])
    nik = _owner_nik(request)
    zone = zone_of(request)
    try:
        answer = await run_in_threadpool(
            _in_transaction, request,
            lambda session: booking_json(*find_booking(session, code, nik), zone),
        )
    except BookingError as exc:
        raise _api_error(exc) from exc
    return JSONResponse(answer)


async def api_cancel(request: Request) -> Response:
    code = _code(request.path_params["code"])
    nik = _owner_nik(request, await json_body(request))
    room, now, zone = room_name(request), utc_now(), zone_of(request)
    try:
        answer = await run_in_threadpool(
            _in_transaction, request,
            lambda session: booking_json(*_cancel(request, session, room, code, nik, now), zone),
        )
    except BookingError as exc:
        raise _api_error(exc) from exc
    return JSONResponse(answer)


async def api_reschedule(request: Request) -> Response:
    code = _code(request.path_params["code"])
    body = await json_body(request)
    nik = _owner_nik(request, body)
    slot_id = _slot_id(body.get("slot_id"))
    room, now, zone = room_name(request), utc_now(), zone_of(request)
    try:
        answer = await run_in_threadpool(
            _in_transaction, request,
            lambda session: booking_json(
                *_reschedule(request, session, room, code, nik, slot_id, now), zone
            ),
        )
    except BookingError as exc:
        raise _api_error(exc) from exc
    return JSONResponse(answer)


def _ics_for(request: Request, code: str) -> bytes | None:
    with request.app.state.db() as session:
        found = booking_by_code(session, code)
    if found is None or found[0].status != "active":
        return None
    booking, slot = found
    portal_url = str(request.base_url).rstrip("/") + "/booking/cek"
    return booking_ics(booking.code, slot.start, slot.end, portal_url,
                       request.app.state.settings.timezone)


async def api_booking_ics(request: Request) -> Response:
    # The code alone is enough here: the file holds the slot time, the code and
    # the portal address, no personal data, and calendar apps cannot send a header.
    code = _code(request.path_params["code"])
    data = await run_in_threadpool(_ics_for, request, code)
    if data is None:
        raise ApiError(404, "not_found", "Kode pemesanan tidak ditemukan.")
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="jadwal-{format_code(code)}.ics"'},
    )


# --- Visitor pages --------------------------------------------------------------


async def _leave_queue(request: Request) -> None:
    """A visitor who booked a slot gives up their place in the queue."""
    try:
        ticket = queue_ticket(request, request.cookies.get(QUEUE_COOKIE), time.time())
        await room_of(request).leave(ticket.number)
    except (TokenError, *REDIS_DOWN):
        pass


async def booking_page(request: Request) -> Response:
    offers = await run_in_threadpool(offers_for_page, request, await queue_eta_seconds(request))
    chosen = request.query_params.get("slot", "")  # an offer from the waiting page
    if chosen.isdigit() and int(chosen) not in {offer["id"] for offer in offers}:
        offered = await offer_for_wait(request, await queue_eta_seconds(request))
        if offered is not None and str(offered["id"]) == chosen:
            offers.insert(0, {"id": offered["id"], "label": offered["label"],
                              "free": offered["capacity"] - offered["booked"]})
    return render(request, "booking.html", {"offers": offers, "values": {}, "errors": {},
                                            "time_of_day": list(TIME_OF_DAY),
                                            "chosen": chosen})


async def booking_submit(request: Request) -> Response:
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    values = {name: form.get(name, "") for name in ("nik", "name", "phone", "email")}
    contact, errors = _contact(values)
    choice = form.get("slot_id", "")
    time_of_day = form.get("time_of_day", "")
    if not choice and not time_of_day:
        errors["slot_id"] = "Pilih salah satu jadwal."
    error_message = None
    if contact is not None and not errors:
        room, now, zone = room_name(request), utc_now(), zone_of(request)

        def work(session: Session) -> dict[str, Any]:
            if choice:
                booking = book_slot(session, room, contact, _form_slot_id(choice), now)
            else:
                preference = SlotPreference(time_of_day=time_of_day if time_of_day in TIME_OF_DAY
                                            else None)
                booking = book_by_preference(session, room, contact, preference, now)
            slot = session.get_one(Slot, booking.slot_id)
            _announce(request, session, booking, slot)
            return {"code": format_code(booking.code), "label": slot_label(slot, zone)}

        try:
            done = await run_in_threadpool(_in_transaction, request, work)
        except BookingError as exc:
            error_message = exc.message
        else:
            await _leave_queue(request)
            return render(request, "booking_done.html", done, status=201)
    offers = await run_in_threadpool(offers_for_page, request, await queue_eta_seconds(request))
    return render(request, "booking.html", {
        "offers": offers, "values": values, "errors": errors, "message": error_message,
        "time_of_day": list(TIME_OF_DAY), "chosen": choice,
    }, status=422 if errors else 409)


def _form_slot_id(raw: str) -> int:
    if not raw.isdigit():
        raise BookingNotFound("Jadwal tidak ditemukan.")
    return int(raw)


async def check_page(request: Request) -> Response:
    return render(request, "booking_check.html", {"values": {}, "errors": {}})


async def check_submit(request: Request) -> Response:
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    values = {"code": form.get("code", ""), "nik": form.get("nik", "")}
    errors: dict[str, str] = {}
    code = nik = ""
    try:
        code = parse_code(values["code"])
    except InvalidCode as exc:
        errors["code"] = str(exc)
    try:
        nik = validate_nik(values["nik"])
    except InvalidField as exc:
        errors["nik"] = exc.message
    if errors:
        return render(request, "booking_check.html", {"values": values, "errors": errors},
                      status=422)
    action = form.get("action", "lihat")
    room, now, zone = room_name(request), utc_now(), zone_of(request)
    if action == "masuk":
        return await _enter_at_slot(request, values, code, nik)

    def work(session: Session) -> tuple[Booking, Slot]:
        if action == "batal":
            return _cancel(request, session, room, code, nik, now)
        if action == "pindah":
            return _reschedule(request, session, room, code, nik,
                               _form_slot_id(form.get("slot_id", "")), now)
        return find_booking(session, code, nik)

    notice = {"batal": "Jadwal Anda telah dibatalkan.", "pindah": "Jadwal Anda telah dipindahkan."}
    try:
        booking, slot = await run_in_threadpool(_in_transaction, request, work)
    except BookingError as exc:
        status = 404 if isinstance(exc, BookingNotFound) else 409
        if status == 404:
            return render(request, "booking_check.html",
                          {"values": values, "errors": {}, "message": exc.message}, status=404)
        booking, slot = await run_in_threadpool(
            _in_transaction, request, lambda session: find_booking(session, code, nik))
        message: str | None = exc.message
        done: str | None = None
    else:
        status, message, done = 200, None, notice.get(action)
    offers: list[dict[str, Any]] = []
    if booking.status == "active":
        offers = await run_in_threadpool(offers_for_page, request, 0)
    return render(request, "booking_check.html", {
        "values": {"code": format_code(booking.code), "nik": nik}, "errors": {},
        "booking": {"code": format_code(booking.code), "status": booking.status,
                    "label": slot_label(slot, zone), "slot_id": slot.id,
                    "now": _in_slot_time(slot, now)},
        "offers": [offer for offer in offers if offer["id"] != slot.id],
        "message": message, "done": done,
    }, status=status)


# A booked visitor may come a little early; the slot's own end is the limit.
EARLY_ARRIVAL = dt.timedelta(minutes=10)


def _in_slot_time(slot: Slot, now: dt.datetime) -> bool:
    return slot.start - EARLY_ARRIVAL <= now < slot.end


async def _enter_at_slot(request: Request, values: dict[str, str], code: str,
                         nik: str) -> Response:
    """A booked visitor in their slot joins the priority lane of the waiting room."""
    now, zone = utc_now(), zone_of(request)
    try:
        booking, slot = await run_in_threadpool(
            _in_transaction, request, lambda session: find_booking(session, code, nik))
    except BookingError as exc:
        return render(request, "booking_check.html",
                      {"values": values, "errors": {}, "message": exc.message}, status=404)
    context = {"values": {"code": format_code(booking.code), "nik": nik}, "errors": {},
               "booking": {"code": format_code(booking.code), "status": booking.status,
                           "label": slot_label(slot, zone), "slot_id": slot.id,
                           "now": _in_slot_time(slot, now)},
               "offers": []}
    if booking.status != "active" or not _in_slot_time(slot, now):
        context["message"] = N_(
            "Jadwal Anda bukan sekarang. Silakan masuk pada waktu jadwal Anda, atau ambil "
            "nomor antrean biasa.")
        return render(request, "booking_check.html", context, status=409)
    browser = browser_of(request)
    signer = request.app.state.signer
    try:
        _place, token = await join_queue(
            request, browser, [signer.identity_hash("booking", booking.code)], booked=True)
    except QueueClosed:
        context["message"] = CLOSED_MESSAGE
        return render(request, "booking_check.html", context, status=409)
    except JoinRateLimited as exc:
        return error_page(request, 429, "rate_limited",
                          headers={"Retry-After": str(exc.retry_after)})
    response = RedirectResponse("/antre", status_code=303)
    store_queue_token(request, response, browser, token)
    return response


routes = [
    Route("/api/v1/slots", api_slots, methods=["GET"]),
    Route("/api/v1/bookings", api_book, methods=["POST"]),
    # Before "{code}": a path parameter would also match "K7M2-9QXA.ics".
    Route("/api/v1/bookings/{code}.ics", api_booking_ics, methods=["GET"]),
    Route("/api/v1/bookings/{code}", api_booking, methods=["GET"]),
    Route("/api/v1/bookings/{code}", api_cancel, methods=["DELETE"]),
    Route("/api/v1/bookings/{code}/reschedule", api_reschedule, methods=["POST"]),
    Route("/booking", booking_page, methods=["GET"]),
    Route("/booking", booking_submit, methods=["POST"]),
    Route("/booking/cek", check_page, methods=["GET"]),
    Route("/booking/cek", check_submit, methods=["POST"]),
]
