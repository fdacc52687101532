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

from portal.attempts import BOOKING_CODE, allow_attempt
from portal.booking.actions import (
    PROOF_NEEDED,
    announce,
    cancel,
    in_transaction,
    proof_required,
    reschedule,
    validate_contact,
)
from portal.booking.days import free_days, picked_day, slots_on
from portal.browser import QUEUE_COOKIE, address_hash, browser_of, client_address, queue_ticket
from portal.errors import error_page
from portal.i18n import N_, language_of
from portal.state import state_of
from portal.times import local_time
from portal.visitor.offers import (
    offer_for_wait,
    offers_for_page,
    queue_eta_seconds,
    slot_label,
    utc_now,
)
from portal.visitor.place import (
    JOIN_REFUSED,
    join_queue,
    join_refusal,
    redis_down,
    store_queue_token,
)
from portal.web import Refused, checked_form, refusal_page, render
from scheduler.bookings import (
    BookingError,
    BookingNotFound,
    active_booking_of,
    book_by_preference,
    book_slot,
    find_booking,
)
from scheduler.codes import InvalidCode, format_code, parse_code
from scheduler.models import Booking, Slot
from scheduler.nik import InvalidField, validate_nik
from scheduler.spreading import TIME_OF_DAY, SlotPreference
from scheduler.text import Message, Typed
from waitroom.tokens import TokenError


async def _leave_queue(request: Request) -> None:
    """A visitor who booked a slot gives up their place in the queue."""
    state = state_of(request)
    try:
        ticket = queue_ticket(state, request, request.cookies.get(QUEUE_COOKIE), time.time())
        await state.room.leave(ticket.number)
    except Exception as exc:
        if not (isinstance(exc, TokenError) or redis_down(exc)):
            raise


# The parts of the day a person may leave the choice to, as the page names them.
TIME_OF_DAY_LABELS = {"pagi": N_("Pagi"), "siang": N_("Siang"), "sore": N_("Sore"),
                      "malam": N_("Malam")}


async def _slot_choices(request: Request) -> dict[str, Any]:
    """What the booking form offers: the days to pick, and the slots of the day picked."""
    state, lang = state_of(request), language_of(request)
    now = utc_now()
    days = await run_in_threadpool(free_days, state, now, lang)
    day = picked_day(request.query_params.get("hari"))
    if day is not None and day in {free.day for free in days}:
        offers = await run_in_threadpool(slots_on, state, day, now, lang)
    else:
        day = None
        offers = await run_in_threadpool(offers_for_page, state,
                                         await queue_eta_seconds(state.room), lang)
    return {"offers": offers, "days": days, "day": day,
            "time_of_day": [(part, TIME_OF_DAY_LABELS.get(part, part)) for part in TIME_OF_DAY]}


async def booking_page(request: Request) -> Response:
    state = state_of(request)
    choices = await _slot_choices(request)
    offers = choices["offers"]
    chosen = request.query_params.get("slot", "")  # an offer from the waiting page
    if chosen.isdigit() and int(chosen) not in {offer["id"] for offer in offers}:
        offered = await offer_for_wait(state, await queue_eta_seconds(state.room),
                                       language_of(request))
        if offered is not None and str(offered["id"]) == chosen:
            offers.insert(0, {"id": offered["id"], "label": offered["label"],
                              "free": offered["capacity"] - offered["booked"]})
    return render(request, "booking.html", {**choices, "values": {}, "errors": {},
                                            "chosen": chosen})


async def booking_submit(request: Request) -> Response:
    state = state_of(request)
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    values = {name: form.get(name, "") for name in ("nik", "name", "phone", "email")}
    contact, errors = validate_contact(values)
    choice = form.get("slot_id", "")
    time_of_day = form.get("time_of_day", "")
    if not choice and not time_of_day:
        errors["slot_id"] = N_("Pilih salah satu jadwal.")
    error_message = None
    if contact is not None and not errors and proof_required(state, request, contact.nik):
        return render(request, "booking.html", {
            **await _slot_choices(request), "values": values, "errors": {},
            "message": PROOF_NEEDED, "prove": True, "chosen": choice}, status=403)
    if contact is not None and not errors:
        room, now, zone = state.settings.room, utc_now(), state.settings.tz

        def work(session: Session) -> dict[str, Any]:
            if choice:
                booking = book_slot(session, room, contact, _form_slot_id(choice), now)
            else:
                preference = SlotPreference(time_of_day=time_of_day if time_of_day in TIME_OF_DAY
                                            else None)
                booking = book_by_preference(session, room, contact, preference, now)
            slot = session.get_one(Slot, booking.slot_id)
            announce(state, session, booking, slot)
            return {"code": format_code(booking.code),
                    "label": slot_label(slot, zone, language_of(request))}

        try:
            done = await run_in_threadpool(in_transaction, state.db, work)
        except BookingError as exc:
            error_message = exc.message
        else:
            await _leave_queue(request)
            return render(request, "booking_done.html", done, status=201)
    return render(request, "booking.html", {
        **await _slot_choices(request), "values": values, "errors": errors,
        "message": error_message, "chosen": choice,
    }, status=422 if errors else 409)


def _form_slot_id(raw: str) -> int:
    if not raw.isdigit():
        raise BookingNotFound("Jadwal tidak ditemukan.")
    return int(raw)


async def check_page(request: Request) -> Response:
    return render(request, "booking_check.html", {"values": {}, "errors": {}})


async def check_submit(request: Request) -> Response:
    state = state_of(request)
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    values = {"code": form.get("code", ""), "nik": form.get("nik", "")}
    errors: dict[str, str] = {}
    code = nik = ""
    try:
        nik = validate_nik(values["nik"])
    except InvalidField as exc:
        errors["nik"] = exc.message
    if nik and not values["code"].strip() and not proof_required(state, request, nik):
        # Lost the code: whoever proved the NIK with a code to its contact sees it again.
        found = await run_in_threadpool(
            in_transaction, state.db, lambda session: active_booking_of(session, nik))
        if found is None:
            return render(request, "booking_check.html", {
                "values": values, "errors": {},
                "message": N_("NIK ini belum memesan jadwal.")}, status=404)
        values["code"] = format_code(found[0].code)
    try:
        code = parse_code(values["code"])
    except InvalidCode as exc:
        errors["code"] = str(exc)
    if errors:
        return render(request, "booking_check.html", {"values": values, "errors": errors},
                      status=422)
    if not await allow_attempt(state.redis, state.keys, BOOKING_CODE, client_address(request),
                               code):
        return render(request, "booking_check.html", {
            "values": values, "errors": {}, "message": N_(
                "Terlalu banyak percobaan. Coba lagi dalam 15 menit.")},
            status=429, headers={"Retry-After": str(BOOKING_CODE.seconds)})
    action = form.get("action", "lihat")
    room, now = state.settings.room, utc_now()
    if action == "masuk":
        return await _enter_at_slot(request, values, code, nik)

    def work(session: Session) -> tuple[Booking, Slot]:
        if action == "batal-ya":  # confirmed on the page that asked "are you sure?"
            return cancel(state, session, room, code, nik, now)
        if action == "pindah":
            return reschedule(state, session, room, code, nik,
                               _form_slot_id(form.get("slot_id", "")), now)
        return find_booking(session, code, nik)

    notice = {"batal-ya": N_("Jadwal Anda telah dibatalkan."),
              "pindah": N_("Jadwal Anda telah dipindahkan.")}
    try:
        booking, slot = await run_in_threadpool(in_transaction, state.db, work)
    except BookingError as exc:
        status = 404 if isinstance(exc, BookingNotFound) else 409
        if status == 404:
            return render(request, "booking_check.html",
                          {"values": values, "errors": {}, "message": exc.message}, status=404)
        booking, slot = await run_in_threadpool(
            in_transaction, state.db, lambda session: find_booking(session, code, nik))
        message: str | None = exc.message
        done: str | None = None
    else:
        status, message, done = 200, None, notice.get(action)
    offers: list[dict[str, Any]] = []
    if booking.status == "active":
        offers = await run_in_threadpool(offers_for_page, state, 0, language_of(request))
    return render(request, "booking_check.html", {
        "values": {"code": format_code(booking.code), "nik": nik}, "errors": {},
        "booking": _booking_view(request, booking, slot, now),
        "offers": [offer for offer in offers if offer["id"] != slot.id],
        "message": message, "done": done,
        "confirm_cancel": action == "batal" and booking.status == "active",
    }, status=status)


def _booking_view(request: Request, booking: Booking, slot: Slot,
                  now: dt.datetime) -> dict[str, Any]:
    zone, lang = state_of(request).settings.tz, language_of(request)
    return {"code": format_code(booking.code), "status": booking.status,
            "label": slot_label(slot, zone, lang), "slot_id": slot.id,
            "now": _in_slot_time(slot, now), "over": now >= slot.end,
            "door_opens": local_time(slot.start - EARLY_ARRIVAL, zone, locale=lang)}


# A booked visitor may come a little early; the slot's own end is the limit.
EARLY_ARRIVAL = dt.timedelta(minutes=10)


def _in_slot_time(slot: Slot, now: dt.datetime) -> bool:
    return slot.start - EARLY_ARRIVAL <= now < slot.end


async def _enter_at_slot(request: Request, values: dict[str, str], code: str,
                         nik: str) -> Response:
    """A booked visitor in their slot joins the priority lane of the waiting room."""
    state = state_of(request)
    now = utc_now()
    try:
        booking, slot = await run_in_threadpool(
            in_transaction, state.db, lambda session: find_booking(session, code, nik))
    except BookingError as exc:
        return render(request, "booking_check.html",
                      {"values": values, "errors": {}, "message": exc.message}, status=404)
    view = _booking_view(request, booking, slot, now)
    context = {"values": {"code": format_code(booking.code), "nik": nik}, "errors": {},
               "booking": view, "offers": []}
    if booking.status != "active" or not _in_slot_time(slot, now):
        if booking.status == "active" and now < slot.start:
            # Early: when to come back, to the minute, rather than "not now".
            context["message"] = Message(N_(
                "Anda datang lebih awal. Kembalilah mulai %(when)s untuk masuk pada jadwal "
                "Anda; sampai saat itu tempat Anda tetap tersimpan."),
                when=Typed(view["door_opens"]))
        else:
            context["message"] = N_(
                "Jadwal Anda sudah lewat atau tidak aktif. Pilih jadwal baru, atau ambil "
                "nomor antrean biasa.")
        return render(request, "booking_check.html", context, status=409)
    browser = browser_of(request)
    identity = state.signer.identity_hash("booking", booking.code)
    try:
        _place, token = await join_queue(state, browser, address_hash(request), [identity],
                                         booked=True)
    except JOIN_REFUSED as exc:
        refusal = join_refusal(exc)
        if refusal.message is None:
            return error_page(request, refusal.status, refusal.code, headers=refusal.headers)
        context["message"] = refusal.message
        return render(request, "booking_check.html", context, status=refusal.status,
                      headers=refusal.headers)
    response = RedirectResponse("/antre", status_code=303)
    store_queue_token(response, browser, token, secure=state.settings.cookie_secure)
    return response


routes = [
    Route("/booking", booking_page, methods=["GET"]),
    Route("/booking", booking_submit, methods=["POST"]),
    Route("/booking/cek", check_page, methods=["GET"]),
    Route("/booking/cek", check_submit, methods=["POST"]),
]
