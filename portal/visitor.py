"""The visitor's pages: landing, waiting, form, receipt."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from typing import Any

from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.browser import (
    QUEUE_COOKIE,
    RECEIPT_COOKIE,
    SESSION_COOKIE,
    Browser,
    browser_of,
    queue_ticket,
    remember_browser,
    session_ticket,
    set_cookie,
)
from portal.errors import error_page
from portal.forms import FIELD_NAMES, FIELDS, entered_values, validate_registration
from portal.models import Submission
from portal.queueing import (
    CLOSED_MESSAGE,
    join_queue,
    room_of,
    start_session,
    store_queue_token,
    view_place,
)
from portal.registrations import (
    AlreadyRegistered,
    load_draft,
    save_draft,
    store_submission,
    submission_by_key,
)
from waitroom.room import JoinRateLimited, QueueClosed, SessionGrant
from waitroom.states import VisitorState
from waitroom.tokens import ForeignToken, SessionTicket, TokenError

MAX_FORM_BYTES = 64 * 1024


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           browser: Browser | None = None) -> Response:
    """Render a page with the CSRF token of this browser."""
    browser = browser or browser_of(request)
    context.setdefault("csrf_token", browser.csrf_token(request.app.state.signer))
    response = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status
    )
    remember_browser(request, response, browser)
    return response


async def checked_form(request: Request) -> dict[str, str]:
    """Read a urlencoded POST body, bounded, and verify its CSRF token."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise _Refused(413, "too_large")
    form = await request.form(max_files=0, max_fields=100)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    browser = browser_of(request)
    expected = browser.csrf_token(request.app.state.signer)
    if browser.is_new or not hmac.compare_digest(values.get("csrf_token", ""), expected):
        raise _Refused(403, "csrf")
    return values


class _Refused(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def _refusal_page(request: Request, exc: _Refused) -> Response:
    message = {
        "csrf": "Formulir kedaluwarsa atau dikirim dari halaman lain. Muat ulang halaman lalu "
        "coba lagi.",
        "too_large": "Data yang dikirim terlalu besar.",
    }.get(exc.code)
    return error_page(request, exc.status, exc.code, message)


async def landing(request: Request) -> Response:
    room = room_of(request)
    stats = await room.stats()
    return render(request, "index.html", {"stats": stats, "seed": await room.published_seed()})


async def arrival_receipt(request: Request) -> Response:
    """A signed record of when this visitor joined, to show if a dispute arises."""
    try:
        ticket = queue_ticket(request, request.cookies.get(QUEUE_COOKIE), time.time())
    except TokenError:
        return RedirectResponse("/", status_code=303)
    signer = request.app.state.signer
    joined = dt.datetime.fromtimestamp(ticket.issued_at, request.app.state.settings.tz)
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
    try:
        await checked_form(request)
    except _Refused as exc:
        return _refusal_page(request, exc)
    browser = browser_of(request)
    try:
        _place, token = await join_queue(request, browser, [])
    except JoinRateLimited as exc:
        retry = {"Retry-After": str(exc.retry_after)}
        return error_page(request, 429, "rate_limited", headers=retry)
    except QueueClosed:
        return error_page(request, 409, "queue_closed", CLOSED_MESSAGE)
    response = RedirectResponse("/antre", status_code=303)
    store_queue_token(request, response, browser, token)
    return response


async def waiting(request: Request) -> Response:
    try:
        ticket = queue_ticket(request, request.cookies.get(QUEUE_COOKIE), time.time())
    except ForeignToken:
        return error_page(request, 403, "foreign_browser",
                          "Token antrean ini milik peramban lain. Silakan antre dari peramban "
                          "Anda sendiri.")
    except TokenError:
        return RedirectResponse("/", status_code=303)
    room = room_of(request)
    view = await view_place(room, await room.poll(ticket.number))
    state = view.place.state
    if state is VisitorState.ACTIVE and request.cookies.get(SESSION_COOKIE):
        return RedirectResponse("/formulir", status_code=303)
    config = await room.config()
    return render(
        request,
        "waiting.html",
        {
            "view": view,
            "token": request.cookies.get(QUEUE_COOKIE),
            "refresh_seconds": max(2, round(view.poll_after_ms / 1000)),
            "paused": config.paused,
            "state": state.public,
        },
    )


async def enter(request: Request) -> Response:
    try:
        await checked_form(request)
        ticket = queue_ticket(request, request.cookies.get(QUEUE_COOKIE), time.time())
    except _Refused as exc:
        return _refusal_page(request, exc)
    except TokenError:
        return RedirectResponse("/", status_code=303)
    grant = await room_of(request).enter(ticket.number)
    if grant is None:
        return RedirectResponse("/antre", status_code=303)
    response = RedirectResponse("/formulir", status_code=303)
    start_session(request, response, ticket, grant)
    return response


async def live_session(request: Request) -> tuple[SessionTicket, SessionGrant] | None:
    """The visitor's form session, extended by this activity; None if it is over."""
    try:
        ticket = session_ticket(request, request.cookies.get(SESSION_COOKIE))
    except TokenError:
        return None
    grant = await room_of(request).heartbeat(ticket.session_id)
    return (ticket, grant) if grant is not None else None


def _session_context(grant: SessionGrant) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {
        "idle_seconds": max(0, (grant.idle_deadline_ms - now_ms) // 1000),
        "hard_seconds": max(0, (grant.hard_deadline_ms - now_ms) // 1000),
    }


def _draft_values(request: Request, owner: str) -> dict[str, Any]:
    with request.app.state.db() as session:
        draft = load_draft(session, owner)
        data = dict(draft.data) if draft else {}
        if "_submit_key" not in data:
            data["_submit_key"] = secrets.token_urlsafe(18)
            save_draft(session, owner, {"_submit_key": data["_submit_key"]})
            session.commit()
        return data


async def form_page(request: Request) -> Response:
    live = await live_session(request)
    if live is None:
        return render(request, "session_over.html", {}, status=403)
    _ticket, grant = live
    browser = browser_of(request)
    data = await run_in_threadpool(_draft_values, request, browser.tag)
    values = {name: str(data.get(name, "")) for name in FIELD_NAMES}
    return render(request, "form.html", {
        "fields": FIELDS, "values": values, "errors": {}, "warnings": {},
        "submit_key": data["_submit_key"], **_session_context(grant),
    })


def _save_draft_values(request: Request, owner: str, values: dict[str, str]) -> None:
    with request.app.state.db() as session:
        save_draft(session, owner, values)
        session.commit()


async def save_draft_endpoint(request: Request) -> Response:
    try:
        raw = await checked_form(request)
    except _Refused as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.code, "fields": {}}},
                            status_code=exc.status)
    browser = browser_of(request)
    values = {k: v for k, v in entered_values(raw).items() if k in raw}
    # Saved even when the session has just ended: what was typed is never lost.
    await run_in_threadpool(_save_draft_values, request, browser.tag, values)
    live = await live_session(request)
    body: dict[str, Any] = {"saved": True, "session": live is not None}
    if live is not None:
        body.update(_session_context(live[1]))
    return JSONResponse(body)


def _receipt_signer(request: Request) -> Signer:
    return Signer(str(request.app.state.settings.secret_key), salt="antrean.receipt")


def _store_result(request: Request, owner: str, key: str, cleaned: dict[str, Any],
                  number: int) -> tuple[Submission, bool]:
    with request.app.state.db() as session:
        submission, new = store_submission(
            session, idempotency_key=key, nik=str(cleaned["nik"]), name=str(cleaned["nama"]),
            data=cleaned, queue_number=number,
        )
        draft = load_draft(session, owner)
        if draft is not None:
            session.delete(draft)
        session.commit()
        return submission, new


def _find_submission(request: Request, key: str) -> Submission | None:
    with request.app.state.db() as session:
        return submission_by_key(session, key)


def _to_receipt(request: Request, submission: Submission) -> Response:
    response = RedirectResponse("/kwitansi", status_code=303)
    value = _receipt_signer(request).sign(submission.registration_number).decode()
    set_cookie(request, response, RECEIPT_COOKIE, value, 30 * 86400)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def submit(request: Request) -> Response:
    try:
        raw = await checked_form(request)
    except _Refused as exc:
        return _refusal_page(request, exc)
    browser = browser_of(request)
    key = raw.get("submit_key", "")[:64]
    if key:
        done = await run_in_threadpool(_find_submission, request, key)
        if done is not None:  # a second click or a resubmit: the same record
            return _to_receipt(request, done)
    today = dt.datetime.now(request.app.state.settings.tz).date()
    result = validate_registration(raw, today)
    await run_in_threadpool(_save_draft_values, request, browser.tag, result.values)
    live = await live_session(request)
    if live is None:
        return render(request, "session_over.html", {"saved": True}, status=403)
    ticket, grant = live
    context = {"fields": FIELDS, "values": result.values, "errors": result.errors,
               "warnings": result.warnings, "submit_key": key, **_session_context(grant)}
    if not result.ok or not key:
        return render(request, "form.html", context, status=422)
    try:
        submission, _new = await run_in_threadpool(
            _store_result, request, browser.tag, key, result.cleaned, ticket.number
        )
    except AlreadyRegistered:
        context["errors"] = {"nik": "NIK ini sudah menyelesaikan pendaftaran."}
        return render(request, "form.html", context, status=409)
    await room_of(request).finish(ticket.session_id)
    return _to_receipt(request, submission)


def _receipt_for(request: Request, number: str) -> Submission | None:
    with request.app.state.db() as session:
        return session.scalars(
            select(Submission).where(Submission.registration_number == number)
        ).one_or_none()


async def receipt(request: Request) -> Response:
    try:
        number = _receipt_signer(request).unsign(request.cookies.get(RECEIPT_COOKIE, "")).decode()
    except BadSignature:
        return error_page(request, 404, "no_receipt", "Bukti pendaftaran tidak ditemukan.")
    submission = await run_in_threadpool(_receipt_for, request, number)
    if submission is None:
        return error_page(request, 404, "no_receipt", "Bukti pendaftaran tidak ditemukan.")
    return render(request, "receipt.html", {"submission": submission, "fields": FIELDS})


routes = [
    Route("/", landing, methods=["GET"]),
    Route("/antre", join, methods=["POST"]),
    Route("/antre", waiting, methods=["GET"]),
    Route("/antre/masuk", enter, methods=["POST"]),
    Route("/antre/bukti", arrival_receipt, methods=["GET"]),
    Route("/formulir", form_page, methods=["GET"]),
    Route("/formulir", submit, methods=["POST"]),
    Route("/formulir/draf", save_draft_endpoint, methods=["POST"]),
    Route("/kwitansi", receipt, methods=["GET"]),
]
