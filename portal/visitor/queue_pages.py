"""The visitor's queue pages: landing, joining, waiting, entering."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.admin.banner import public_banner, shared_banner
from portal.browser import QUEUE_COOKIE, SESSION_COOKIE, address_hash, browser_of, queue_ticket
from portal.errors import error_page
from portal.i18n import N_, language_of
from portal.notify.events import remember_contact
from portal.state import state_of
from portal.times import local_time
from portal.visitor.gate import ProofRequired, gate_of, join_through_gate, proof_page
from portal.visitor.offers import offer_for_wait
from portal.visitor.place import (
    JOIN_REFUSED,
    browser_hash,
    fails_open,
    join_refusal,
    open_door,
    redis_down,
    start_session,
    store_queue_token,
    view_place,
)
from portal.web import Refused, checked_form, refusal_page, render
from scheduler.nik import InvalidField
from scheduler.roster import validate_email, validate_phone
from waitroom.config import RoomConfig
from waitroom.room import PlaceMoved
from waitroom.states import VisitorState
from waitroom.tokens import ForeignToken, QueueTicket, TokenError

__all__ = ["checked_form", "render", "routes"]


LIVE = (VisitorState.WAITING, VisitorState.SKIPPED, VisitorState.ADMITTED, VisitorState.ACTIVE)


@dataclass(frozen=True)
class OpeningHours:
    """When the queue opens and closes, as the visitor reads it."""

    opens: str | None  # a local time, labelled, while the queue is not open yet
    closes: str | None  # a local time, labelled, while a closing time is set
    closed: bool  # past the closing time: no new numbers


def opening_hours(request: Request, config: RoomConfig | None) -> OpeningHours:
    """The room's opening and closing times in the registration's zone."""
    if config is None:
        return OpeningHours(None, None, False)
    now = time.time()
    tz, lang = state_of(request).settings.tz, language_of(request)

    def shown(epoch: int) -> str:
        return local_time(dt.datetime.fromtimestamp(epoch, dt.UTC), tz, locale=lang)

    opens = shown(config.opens_at) if config.opens_at and now < config.opens_at else None
    closes = shown(config.closes_at) if config.closes_at else None
    return OpeningHours(opens, closes, bool(config.closes_at) and now >= config.closes_at)

MOVED = N_("Nomor antrean ini sudah dipindahkan ke perangkat lain. Lanjutkan di perangkat itu, "
           "atau ambil nomor antrean baru di sini.")


def _own_number(request: Request) -> int | None:
    """The queue number this browser already holds (its token), if any."""
    state = state_of(request)
    try:
        ticket = queue_ticket(state, request, request.cookies.get(QUEUE_COOKIE), time.time())
    except TokenError:
        return None
    return ticket.number


async def landing(request: Request) -> Response:
    state = state_of(request)
    room = state.room
    try:
        stats = await room.stats()
        # stats() read the snapshot, which carries the published seed too
        seed = room.snapshot.seed if room.snapshot is not None else None
        banner = await public_banner(room)
        config = room.last_known_config()
    except Exception as exc:
        if not redis_down(exc) or not fails_open(state):
            raise
        return render(request, "index.html", {"stats": None, "seed": None, "degraded": True})
    hours = opening_hours(request, config)
    held = _own_number(request)
    place = None
    if held is not None:
        # From the snapshot when it can say (most visitors); otherwise one poll.
        place = room.poll_from_snapshot(held) or await room.poll(held)
        if place.state not in LIVE:
            place = None
    return render(request, "index.html", {"stats": stats, "seed": seed, "banner": banner,
                                          "hours": hours, "place": place})


async def arrival_receipt(request: Request) -> Response:
    """A signed record of when this visitor joined, to show if a dispute arises."""
    state = state_of(request)
    try:
        ticket = queue_ticket(state, request, request.cookies.get(QUEUE_COOKIE), time.time())
    except TokenError:
        return RedirectResponse("/", status_code=303)
    signer = state.signer
    joined = dt.datetime.fromtimestamp(ticket.issued_at, state.settings.tz)
    code = signer.arrival_code(ticket.room, ticket.number, ticket.issued_at)
    text = (
        "BUKTI KEDATANGAN ANTREAN\n"
        f"Nomor antrean : {ticket.number}\n"
        f"Waktu bergabung: {joined:%Y-%m-%d %H:%M:%S %Z}\n"
        f"Kode verifikasi: {code}\n"
        "Petugas dapat memeriksa keaslian kode ini di konsol admin.\n"
    )
    return Response(text, media_type="text/plain; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="bukti-antrean-{ticket.number}.txt"'})


async def join(request: Request) -> Response:
    state = state_of(request)
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    browser = browser_of(request)
    now = time.time()
    gate = gate_of(state, address_hash(request), browser, form.get("proof_challenge"),
                   form.get("proof_nonce"), now)
    try:
        _place, token = await join_through_gate(state, gate, [], now)
    except ProofRequired as exc:
        return proof_page(request, exc)
    except JOIN_REFUSED as exc:
        refusal = join_refusal(exc)
        return error_page(request, refusal.status, refusal.code, refusal.message,
                          headers=refusal.headers)
    except Exception as exc:
        if not redis_down(exc) or not fails_open(state):
            raise  # fail closed: the 503 page
        # Operators chose to keep the form open while the queue cannot count.
        response = RedirectResponse("/formulir", status_code=303)
        open_door(state, response, browser)
        return response
    response = RedirectResponse("/antre", status_code=303)
    store_queue_token(response, browser, token, secure=state.settings.cookie_secure)
    return response


async def waiting(request: Request) -> Response:
    try:
        ticket = queue_ticket(state_of(request), request, request.cookies.get(QUEUE_COOKIE),
                              time.time())
    except ForeignToken:
        return error_page(request, 403, "foreign_browser",
                          "Token antrean ini milik peramban lain. Silakan antre dari peramban "
                          "Anda sendiri.")
    except TokenError:
        return RedirectResponse("/", status_code=303)
    return await _waiting_page(request, ticket.number, {})


async def _waiting_page(request: Request, number: int, extra: dict[str, Any],
                        status: int = 200) -> Response:
    room = state_of(request).room
    place = room.poll_from_snapshot(number) or await room.poll(number)
    view = await view_place(room, place)
    state = view.place.state
    if state is VisitorState.ACTIVE and request.cookies.get(SESSION_COOKIE):
        return RedirectResponse("/formulir", status_code=303)
    config = await room.config()
    offer = None
    if state is VisitorState.WAITING and view.estimate is not None:
        offer = await offer_for_wait(state_of(request), view.estimate.seconds)
    return render(
        request,
        "waiting.html",
        {
            "offer": offer,
            "view": view,
            "token": request.cookies.get(QUEUE_COOKIE),
            "refresh_seconds": max(2, round(view.poll_after_ms / 1000)),
            "paused": config.paused,
            "state": state.public,
            "number": number,
            "banner": await shared_banner(state_of(request)),
            "moved_here": request.query_params.get("pindah") == "1",
            "notice_saved": request.query_params.get("kabari") == "1",
            "notice_errors": {},
            "notice_values": {},
            **extra,
        },
        status=status,
    )


async def enter(request: Request) -> Response:
    state = state_of(request)
    try:
        await checked_form(request)
        ticket = queue_ticket(state, request, request.cookies.get(QUEUE_COOKIE), time.time())
    except Refused as exc:
        return refusal_page(request, exc)
    except TokenError:
        return RedirectResponse("/", status_code=303)
    try:
        grant = await state.room.enter(ticket.number, browser_hash(state, ticket.binding))
    except PlaceMoved:
        return error_page(request, 409, "place_moved", MOVED)
    if grant is None:
        return RedirectResponse("/antre", status_code=303)
    response = RedirectResponse("/formulir", status_code=303)
    start_session(state, response, ticket, grant)
    return response


async def ask_for_notice(request: Request) -> Response:
    """A waiting visitor leaves an e-mail or phone to be told when their turn opens."""
    state = state_of(request)
    try:
        form = await checked_form(request)
        ticket = queue_ticket(state, request, request.cookies.get(QUEUE_COOKIE), time.time())
    except Refused as exc:
        return refusal_page(request, exc)
    except TokenError:
        return RedirectResponse("/", status_code=303)
    errors: dict[str, str] = {}
    email = phone = None
    try:
        email = validate_email(form.get("email", ""))
    except InvalidField as exc:
        errors["email"] = exc.message
    if form.get("telepon", "").strip():
        try:
            phone = validate_phone(form["telepon"])
        except InvalidField as exc:
            errors["telepon"] = exc.message
    if not errors and email is None and phone is None:
        errors["email"] = N_("Isi e-mail atau nomor HP.")
    room = state.room
    if errors:
        return await _waiting_page(request, ticket.number, {"notice_errors": errors,
                                                            "notice_values": form}, 422)
    settings = state.settings

    def remember() -> None:
        with state.db() as session:
            remember_contact(session, settings.room, ticket.number, email, phone)
            session.commit()

    await run_in_threadpool(remember)
    await room.want_notice(ticket.number)
    # Back to the waiting page by GET: its reloads (a meta refresh without JavaScript)
    # must not land on this POST-only address.
    return RedirectResponse("/antre?kabari=1", status_code=303)


async def resume(request: Request) -> Response:
    """The link of a "your turn" message: this browser takes over the admitted place."""
    state = state_of(request)
    signer = state.signer
    settings = state.settings
    try:
        room_name, number = signer.read_resume_token(request.path_params["token"], time.time())
    except TokenError:
        return error_page(request, 410, "link_expired", N_(
            "Tautan ini sudah tidak berlaku. Ambil nomor antrean baru; isian yang sudah Anda "
            "ketik tetap tersimpan."))
    if room_name != settings.room:
        return error_page(request, 404, "not_found")
    browser = browser_of(request)
    # The link went to the place's contact: whoever opens it holds the place from now on.
    owner = browser_hash(state, browser.tag)
    if not await state.room.move(number, owner, [owner]):
        return error_page(request, 410, "link_expired", N_(
            "Tautan ini sudah tidak berlaku. Ambil nomor antrean baru; isian yang sudah Anda "
            "ketik tetap tersimpan."))
    token = signer.queue_token(QueueTicket(room_name, number, int(time.time()), browser.tag))
    response = RedirectResponse("/antre", status_code=303)
    store_queue_token(response, browser, token, secure=state.settings.cookie_secure)
    return response


routes = [
    Route("/", landing, methods=["GET"]),
    Route("/antre", join, methods=["POST"]),
    Route("/antre", waiting, methods=["GET"]),
    Route("/antre/masuk", enter, methods=["POST"]),
    Route("/antre/bukti", arrival_receipt, methods=["GET"]),
    Route("/antre/lanjut/{token}", resume, methods=["GET"]),
    Route("/antre/kabari", ask_for_notice, methods=["POST"]),
]
