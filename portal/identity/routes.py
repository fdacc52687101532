"""Proving a NIK: ask for a code (sent to the agency's contact), type it, carry the proof.

The answer to "send me a code" is the same whether the NIK is on the roster, bound,
unknown or already registered: an unproved requester learns nothing about it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.browser import Browser, browser_of, client_address, remember_browser
from portal.errors import ApiError
from portal.i18n import N_
from portal.identity.contacts import Contact, bind_if_unbound, route_for
from portal.identity.proof import PROOF_SECONDS, remember_proof
from portal.identity.store import CODE_SECONDS, Checked, OneTimeCodes
from portal.notify.dispatch import notify_identity_code
from portal.state import PortalState, state_of
from portal.web import Refused, checked_fields, checked_form, json_body, refusal_page, render
from scheduler.nik import InvalidField, validate_nik
from scheduler.roster import validate_email, validate_phone

SENT = N_("Jika NIK ini terdaftar, kode verifikasi telah dikirim ke kontaknya. Kode berlaku "
          "10 menit.")
WRONG = N_("Kode salah atau sudah tidak berlaku.")
USED_UP = N_("Terlalu banyak percobaan untuk kode ini. Minta kode baru.")
LIMITED = N_("Terlalu banyak percobaan. Coba lagi dalam 15 menit.")


def codes_of(state: PortalState) -> OneTimeCodes:
    """The one-time codes of this portal."""
    return OneTimeCodes(state.redis, state.keys, str(state.settings.secret_key))


def offered_contacts(values: dict[str, Any]) -> tuple[tuple[Contact, ...], dict[str, str]]:
    """The phone and e-mail a requester offers (used only for a NIK nobody holds yet)."""
    cleaned, errors = checked_fields(values, (("phone", validate_phone),
                                              ("email", validate_email)))
    channels = {"phone": "sms", "email": "email"}
    return tuple(Contact(channels[name], value) for name, value in cleaned.items()
                 if value), errors


def _nik(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidField("type", N_("Harus berupa teks."))
    return validate_nik(raw)


# What sends one code to one contact: (session, contact, code, reference) -> records.
SendOne = Callable[[Session, Contact, str, str], object]


async def deliver_code(state: PortalState, subject: str, contacts: tuple[Contact, ...],
                       address: str, send_one: SendOne) -> None:
    """Issue a code for ``subject`` and send it to every contact, within the send limits.

    One code a request, to every contact held (SMS and e-mail alike): whichever
    arrives first proves the person. Silent when there is no contact or a limit is
    reached, so the answer never tells which.
    """
    codes = codes_of(state)
    if not contacts or not await codes.may_send(subject, contacts, address):
        return
    code = await codes.issue(subject, contacts[0])
    reference = secrets.token_hex(8)

    def enqueue() -> None:
        with state.db() as session:
            for contact in contacts:
                send_one(session, contact, code, reference)
            session.commit()

    await run_in_threadpool(enqueue)


async def send_code(state: PortalState, nik: str, offered: tuple[Contact, ...],
                    address: str) -> None:
    """Send the NIK's code where it belongs, within the send limits; silent either way."""

    def route() -> tuple[Contact, ...]:
        with state.db() as session:
            found = route_for(session, nik, offered)
            session.commit()
            return found

    def send_one(session: Session, contact: Contact, code: str, reference: str) -> object:
        return notify_identity_code(session, state.queue, state.notify, channel=contact.channel,
                                    address=contact.address, code=code,
                                    minutes=CODE_SECONDS // 60, reference=reference)

    await deliver_code(state, nik, await run_in_threadpool(route), address, send_one)


async def check_code(state: PortalState, nik: str, typed: str, address: str) -> Checked:
    """Check a typed code; a right one for a NIK nobody held binds the contact it reached."""
    result = await codes_of(state).check(nik, typed, address)
    if result.outcome is Checked.RIGHT and result.contact is not None:
        contact = result.contact

        def bind() -> None:
            with state.db() as session:
                bind_if_unbound(session, nik, contact)
                session.commit()

        await run_in_threadpool(bind)
    return result.outcome


# --- JSON API -------------------------------------------------------------------------


async def api_send_code(request: Request) -> Response:
    state = state_of(request)
    body = await json_body(request)
    offered, errors = offered_contacts(body)
    try:
        nik = _nik(body.get("nik", ""))
    except InvalidField as exc:
        errors["nik"] = exc.message
    if errors:
        raise ApiError(422, "invalid_fields", N_("Ada data yang tidak valid."), errors)
    await send_code(state, nik, offered, client_address(request))
    return JSONResponse({"sent": True, "message": SENT,
                         "expires_in_seconds": CODE_SECONDS}, status_code=202)


async def api_verify(request: Request) -> Response:
    state = state_of(request)
    body = await json_body(request)
    try:
        nik = _nik(body.get("nik", ""))
    except InvalidField as exc:
        raise ApiError(422, "invalid_fields", N_("Ada data yang tidak valid."),
                       {"nik": exc.message}) from exc
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ApiError(422, "invalid_fields", N_("Ada data yang tidak valid."),
                       {"code": N_("Kode wajib diisi.")})
    outcome = await check_code(state, nik, code, client_address(request))
    if outcome is Checked.LIMITED:
        raise ApiError(429, "too_many_attempts", LIMITED, headers={"Retry-After": "900"})
    if outcome is not Checked.RIGHT:
        raise ApiError(422, "invalid_code", USED_UP if outcome is Checked.USED_UP else WRONG,
                       {"code": WRONG})
    browser = browser_of(request)
    response = JSONResponse({"verified": True, "valid_for_seconds": PROOF_SECONDS})
    remember(state, request, response, browser, nik)
    return response


def remember(state: PortalState, request: Request, response: Response, browser: Browser,
             nik: str) -> None:
    """Keep the proof of ``nik`` in this browser (and the browser itself when it is new)."""
    secure = state.settings.cookie_secure
    remember_proof(response, str(state.settings.secret_key), request, browser, nik,
                   secure=secure)
    remember_browser(response, browser, secure=secure)  # a no-op for a known browser


# --- pages ---------------------------------------------------------------------------------


def _next(raw: str | None) -> str:
    # Only back into the portal's own visitor pages: never an open redirect.
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/"


async def identity_page(request: Request) -> Response:
    return render(request, "identity.html", {"step": "ask", "values": {}, "errors": {},
                                             "next": _next(request.query_params.get("lanjut"))})


async def identity_send(request: Request) -> Response:
    state = state_of(request)
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    values = {name: form.get(name, "") for name in ("nik", "phone", "email")}
    target = _next(form.get("next"))
    offered, errors = offered_contacts(values)
    nik = ""
    try:
        nik = _nik(values["nik"])
    except InvalidField as exc:
        errors["nik"] = exc.message
    if errors:
        return render(request, "identity.html", {"step": "ask", "values": values,
                                                 "errors": errors, "next": target}, status=422)
    await send_code(state, nik, offered, client_address(request))
    return render(request, "identity.html", {"step": "code", "values": {"nik": nik},
                                             "errors": {}, "next": target, "message": SENT},
                  status=202)


async def identity_verify(request: Request) -> Response:
    state = state_of(request)
    try:
        form = await checked_form(request)
    except Refused as exc:
        return refusal_page(request, exc)
    target = _next(form.get("next"))
    try:
        nik = _nik(form.get("nik", ""))
    except InvalidField as exc:
        return render(request, "identity.html", {"step": "ask", "values": {},
                                                 "errors": {"nik": exc.message},
                                                 "next": target}, status=422)
    outcome = await check_code(state, nik, form.get("code", ""), client_address(request))
    if outcome is not Checked.RIGHT:
        message = {Checked.LIMITED: LIMITED, Checked.USED_UP: USED_UP}.get(outcome, WRONG)
        status = 429 if outcome is Checked.LIMITED else 422
        step = "ask" if outcome is Checked.USED_UP else "code"
        return render(request, "identity.html", {
            "step": step, "values": {"nik": nik}, "errors": {"code": message},
            "next": target}, status=status)
    browser = browser_of(request)
    response = RedirectResponse(target, status_code=303)
    remember(state, request, response, browser, nik)
    return response


routes = [
    Route("/api/v1/identity/code", api_send_code, methods=["POST"]),
    Route("/api/v1/identity/verify", api_verify, methods=["POST"]),
    Route("/identitas", identity_page, methods=["GET"]),
    Route("/identitas/kode", identity_send, methods=["POST"]),
    Route("/identitas/verifikasi", identity_verify, methods=["POST"]),
]
