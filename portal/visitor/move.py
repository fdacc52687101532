"""Moving a place in the queue to another device, with a code sent to the place's contact.

A place is found again only from the browser that holds it (see place.join_queue).
Its owner may still change devices: on the new one they give their queue number,
a one-time code goes to the e-mail or phone the place keeps (left on the waiting
page to be told of the turn), and typing it hands the place to the new browser.
Knowing a queue number, a NIK or a phone number is never enough: the code goes
where the owner said, and the answer to "send a code" is the same whether the
number exists, keeps a contact or was already used.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.browser import browser_of, client_address
from portal.i18n import N_
from portal.identity.contacts import Contact
from portal.identity.routes import LIMITED, USED_UP, WRONG, codes_of, deliver_code
from portal.identity.store import CODE_SECONDS, Checked
from portal.notify.dispatch import notify_move_code
from portal.state import PortalState, state_of
from portal.visitor.models import QueueContact
from portal.visitor.place import browser_hash, store_queue_token
from portal.web import Refused, checked_form, refusal_page, render
from waitroom.tokens import QueueTicket

SENT = N_("Jika nomor antrean ini menyimpan e-mail atau nomor HP, kode telah dikirim ke sana. "
          "Kode berlaku 10 menit.")
BAD_NUMBER = N_("Isi nomor antrean Anda (angka, tertera di halaman antrean dan di bukti "
                "kedatangan).")
GONE = N_("Nomor antrean ini sudah tidak aktif. Ambil nomor antrean baru.")
MAX_NUMBER = 10**9


def _number(raw: str) -> int | None:
    text = raw.strip().lstrip("#")
    if not text.isdigit() or not 0 < int(text) < MAX_NUMBER:
        return None
    return int(text)


def _subject(state: PortalState, number: int) -> str:
    # The code store is keyed by what a code proves; a place is not a NIK.
    return f"place:{state.settings.room}:{number}"


def _contacts(state: PortalState, number: int) -> tuple[Contact, ...]:
    with state.db() as session:
        row = session.scalars(select(QueueContact).where(
            QueueContact.room == state.settings.room,
            QueueContact.queue_number == number)).one_or_none()
        if row is None:
            return ()
        return tuple(contact for contact in (
            Contact("sms", row.phone) if row.phone else None,
            Contact("email", row.email) if row.email else None) if contact is not None)


async def send_move_code(state: PortalState, number: int, address: str) -> None:
    """Send a code to the place's contacts when it keeps any; silent either way."""

    def send_one(session: Session, contact: Contact, code: str, reference: str) -> object:
        return notify_move_code(session, state.queue, state.notify, channel=contact.channel,
                                address=contact.address, code=code, queue_number=number,
                                minutes=CODE_SECONDS // 60, reference=reference)

    contacts = await run_in_threadpool(_contacts, state, number)
    await deliver_code(state, _subject(state, number), contacts, address, send_one)


def _page(request: Request, step: str, number: str = "", errors: dict[str, str] | None = None,
          message: str | None = None, status: int = 200) -> Response:
    return render(request, "move.html", {"step": step, "number": number, "errors": errors or {},
                                         "message": message}, status=status)


async def move_page(request: Request) -> Response:
    return _page(request, "ask")


async def move_send(request: Request) -> Response:
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    number = _number(form.get("nomor", ""))
    if number is None:
        return _page(request, "ask", form.get("nomor", "")[:12], {"nomor": BAD_NUMBER},
                     status=422)
    await send_move_code(state_of(request), number, client_address(request))
    return _page(request, "code", str(number), message=SENT, status=202)


async def move_verify(request: Request) -> Response:
    state = state_of(request)
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    number = _number(form.get("nomor", ""))
    if number is None:
        return _page(request, "ask", "", {"nomor": BAD_NUMBER}, status=422)
    outcome = (await codes_of(state).check(_subject(state, number), form.get("code", ""),
                                           client_address(request))).outcome
    if outcome is not Checked.RIGHT:
        message = {Checked.LIMITED: LIMITED, Checked.USED_UP: USED_UP}.get(outcome, WRONG)
        step = "ask" if outcome is Checked.USED_UP else "code"
        return _page(request, step, str(number), {"code": message},
                     status=429 if outcome is Checked.LIMITED else 422)
    browser = browser_of(request)
    new_owner = browser_hash(state, browser.tag)
    if not await state.room.move(number, new_owner, [new_owner]):
        return _page(request, "ask", str(number), {"nomor": GONE}, status=410)
    token = state.signer.queue_token(
        QueueTicket(state.settings.room, number, int(time.time()), browser.tag))
    response = RedirectResponse("/antre?pindah=1", status_code=303)
    store_queue_token(response, browser, token, secure=state.settings.cookie_secure)
    return response


routes = [
    Route("/antre/pindah", move_page, methods=["GET"]),
    Route("/antre/pindah/kode", move_send, methods=["POST"]),
    Route("/antre/pindah/verifikasi", move_verify, methods=["POST"]),
]
