"""The visitor's booking pages: book a slot, check, move or cancel it, enter in its time.

The NIK travels in POSTed forms, never in a URL.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.booking.actions import announce, cancel, in_transaction, reschedule, validate_contact
from portal.browser import QUEUE_COOKIE, browser_of, queue_ticket
from portal.errors import error_page
from portal.i18n import N_
from portal.visitor.offers import (
    offer_for_wait,
    offers_for_page,
    queue_eta_seconds,
    room_name,
    slot_label,
    utc_now,
    zone_of,
)
from portal.visitor.place import (
    CLOSED_MESSAGE,
    REDIS_DOWN,
    join_queue,
    room_of,
    store_queue_token,
)
from portal.web import Refused, checked_form, refusal_page, render
from scheduler.bookings import (
    BookingError,
    BookingNotFound,
    book_by_preference,
    book_slot,
    find_booking,
)
from scheduler.codes import InvalidCode, format_code, parse_code
from scheduler.models import Booking, Slot
from scheduler.nik import InvalidField, validate_nik
from scheduler.spreading import TIME_OF_DAY, SlotPreference
from waitroom.room import JoinRateLimited, QueueClosed
from waitroom.tokens import TokenError


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
    contact, errors = validate_contact(values)
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
            announce(request, session, booking, slot)
            return {"code": format_code(booking.code), "label": slot_label(slot, zone)}

        try:
            done = await run_in_threadpool(in_transaction, request, work)
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
            return cancel(request, session, room, code, nik, now)
        if action == "pindah":
            return reschedule(request, session, room, code, nik,
                               _form_slot_id(form.get("slot_id", "")), now)
        return find_booking(session, code, nik)

    notice = {"batal": "Jadwal Anda telah dibatalkan.", "pindah": "Jadwal Anda telah dipindahkan."}
    try:
        booking, slot = await run_in_threadpool(in_transaction, request, work)
    except BookingError as exc:
        status = 404 if isinstance(exc, BookingNotFound) else 409
        if status == 404:
            return render(request, "booking_check.html",
                          {"values": values, "errors": {}, "message": exc.message}, status=404)
        booking, slot = await run_in_threadpool(
            in_transaction, request, lambda session: find_booking(session, code, nik))
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
            in_transaction, request, lambda session: find_booking(session, code, nik))
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
    Route("/booking", booking_page, methods=["GET"]),
    Route("/booking", booking_submit, methods=["POST"]),
    Route("/booking/cek", check_page, methods=["GET"]),
    Route("/booking/cek", check_submit, methods=["POST"]),
]
