"""The registration form: session checks, drafts saved as typed, uploads, submit, receipt."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.admin.banner import shared_banner
from portal.attempts import RECOVERY_CODE, allow_attempt, failed_attempt
from portal.browser import (
    SESSION_COOKIE,
    browser_of,
    client_address,
    session_ticket,
)
from portal.form.fields import (
    FIELD_NAMES,
    MAX_UPLOAD_BYTES,
    N_,
    SECTIONS,
    UPLOADS,
    UploadError,
    entered_values,
    validate_registration,
)
from portal.form.models import Submission
from portal.form.receipts import kept_number, to_receipt
from portal.form.recovery import SENT_KEY, tell_recovery_code
from portal.form.store import (
    SUBMITTED,
    AlreadyRegistered,
    adopt_draft,
    close_draft,
    load_draft,
    new_code,
    save_draft,
    store_submission,
    submission_by_key,
)
from portal.form.uploads import StoredFile, UploadStore, upload_store
from portal.identity.proof import proved, proved_any
from portal.notify.dispatch import notify_submission_receipt
from portal.state import state_of
from portal.visitor.place import open_door_grant, redis_down
from portal.web import PostedForm, Refused, checked_post, refusal_page, render
from scheduler.nik import InvalidField, validate_nik
from waitroom.room import SessionGrant
from waitroom.tokens import SessionTicket, TokenError

log = logging.getLogger("antrean.portal")
UPLOAD_NAMES = dict(UPLOADS)
SUBMIT_KEY = re.compile(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}")


async def live_session(request: Request) -> tuple[SessionTicket, SessionGrant] | None:
    """The visitor's form session, extended by this activity; None if it is over."""
    state = state_of(request)
    try:
        ticket = session_ticket(state, request, request.cookies.get(SESSION_COOKIE))
    except TokenError:
        return None
    opened = open_door_grant(state, ticket)
    if opened is not None:
        return ticket, opened
    grant = await state.room.heartbeat(ticket.session_id)
    return (ticket, grant) if grant is not None else None


def _was_admitted(request: Request) -> bool:
    """Whether this browser holds a genuine (possibly ended) form-session token."""
    try:
        session_ticket(state_of(request), request, request.cookies.get(SESSION_COOKIE))
    except TokenError:
        return False
    return True


def _session_context(grant: SessionGrant) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {
        "idle_seconds": max(0, (grant.idle_deadline_ms - now_ms) // 1000),
        "hard_seconds": max(0, (grant.hard_deadline_ms - now_ms) // 1000),
    }


def _uploads(request: Request) -> UploadStore:
    return upload_store(state_of(request).settings)


def _open_draft(request: Request, owner: str) -> dict[str, Any]:
    """This browser's draft, created with its submit key and recovery code if new."""
    with state_of(request).db() as session:
        draft = load_draft(session, owner)
        data = dict(draft.data) if draft else {}
        missing = {}
        if "_submit_key" not in data:
            missing["_submit_key"] = new_code(16)
        if "_recovery" not in data:
            missing["_recovery"] = new_code(8)
        if missing:
            data = dict(save_draft(session, owner, missing).data)
            session.commit()
        return data


def _form_session(request: Request) -> str | None:
    try:
        ticket = session_ticket(state_of(request), request, request.cookies.get(SESSION_COOKIE))
    except TokenError:
        return None
    return ticket.session_id


def _save_values(request: Request, owner: str, values: dict[str, Any]) -> dict[str, Any]:
    form_session = _form_session(request)
    with state_of(request).db() as session:
        data = dict(save_draft(session, owner, values, form_session).data)
        session.commit()
        return data


def _form_context(data: dict[str, Any], values: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None,
                  warnings: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "sections": SECTIONS,
        "uploads": UPLOADS,
        "files": data.get("_files", {}),
        "values": values or {name: str(data.get(name, "")) for name in FIELD_NAMES},
        "errors": errors or {},
        "warnings": warnings or {},
        "submit_key": data["_submit_key"],
        "recovery_code": data["_recovery"],
        "max_upload_kb": MAX_UPLOAD_BYTES // 1024,
    }


async def form_page(request: Request) -> Response:
    live = await live_session(request)
    if live is None:
        # Back on the form after submitting: the way to the receipt, not "queue again".
        return render(request, "session_over.html",
                      {"submitted": kept_number(request) is not None}, status=403)
    browser = browser_of(request)
    data = await run_in_threadpool(_open_draft, request, browser.tag)
    # Back from proving the NIK: the recovery code now goes to the verified contact too.
    sent = await tell_recovery_code(request, browser.tag, data)
    context = _form_context(data)
    return render(request, "form.html", {**context, **_session_context(live[1]),
                                         "banner": await shared_banner(state_of(request)),
                                         "proved": _proved(request, context["values"]),
                                         "recovery_sent": sent or bool(data.get(SENT_KEY))})


async def save_draft_endpoint(request: Request) -> Response:
    try:
        posted = await checked_post(request)
    except Refused as exc:
        return _json_refusal(exc)
    if not _was_admitted(request):
        return _json_refusal(Refused(403, "no_session"))
    values = {k: v for k, v in entered_values(posted.values).items() if k in posted.values}
    # Saved even when the session has just ended: what was typed is never lost.
    owner = browser_of(request).tag
    data = await run_in_threadpool(_save_values, request, owner, values)
    if SUBMITTED in data:  # submitted, or taken to another browser: the draft stays closed
        return _json_refusal(Refused(409, "draft_closed"), N_(
            "Draf ini sudah dikirim atau dilanjutkan di perangkat lain; tidak ada yang "
            "disimpan di sini."))
    sent = await tell_recovery_code(request, owner, data)
    live = await live_session(request)
    body: dict[str, Any] = {"saved": True, "session": live is not None,
                            "recovery_sent": sent or bool(data.get(SENT_KEY))}
    if live is not None:
        body.update(_session_context(live[1]))
    return JSONResponse(body)


def _proved(request: Request, values: dict[str, Any]) -> bool:
    """Whether this browser proved the NIK typed in the form (any NIK, while none is)."""
    secret = str(state_of(request).settings.secret_key)
    try:
        nik = validate_nik(str(values.get("nik") or ""))
    except InvalidField:
        return proved_any(secret, request)  # not a NIK (yet): say what this browser holds
    return proved(secret, request, nik)


def _json_refusal(exc: Refused, message: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": message or exc.code,
                                   "fields": {}}}, status_code=exc.status)


async def _store_upload(request: Request, owner: str, name: str,
                        upload: UploadFile) -> StoredFile:
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    stored = await run_in_threadpool(_uploads(request).save_pdf, data, upload.filename or "")

    def remember() -> None:
        with state_of(request).db() as session:
            draft = load_draft(session, owner)
            files = dict(((draft.data if draft else None) or {}).get("_files", {}))
            files[name] = stored.as_dict()
            save_draft(session, owner, {"_files": files})
            session.commit()

    await run_in_threadpool(remember)
    return stored


async def upload_endpoint(request: Request) -> Response:
    try:
        posted = await checked_post(request, max_files=1)
    except Refused as exc:
        return _json_refusal(exc)
    try:
        return await _upload(request, posted)
    finally:
        await posted.close()


async def _upload(request: Request, posted: PostedForm) -> Response:
    if await live_session(request) is None:
        return _json_refusal(Refused(403, "no_session"), "Sesi formulir sudah berakhir.")
    name = posted.values.get("jenis", "")
    upload = posted.files.get("berkas")
    if name not in UPLOAD_NAMES or upload is None:
        return JSONResponse({"error": {"code": "invalid_fields", "message": "Berkas tidak ada.",
                                       "fields": {"berkas": "Pilih berkas PDF."}}},
                            status_code=422)
    try:
        stored = await _store_upload(request, browser_of(request).tag, name, upload)
    except UploadError as exc:
        return JSONResponse({"error": {"code": "invalid_file", "message": str(exc),
                                       "fields": {name: str(exc)}}}, status_code=422)
    return JSONResponse({"saved": True, "name": stored.name, "size": stored.size})


async def restore_endpoint(request: Request) -> Response:
    """Bring a draft typed in another browser into this one (NIK + recovery code)."""
    try:
        posted = await checked_post(request)
    except Refused as exc:
        return refusal_page(request, exc)
    live = await live_session(request)
    if live is None:
        return render(request, "session_over.html", {}, status=403)
    browser = browser_of(request)
    try:
        nik = validate_nik(posted.values.get("nik", ""))
    except InvalidField:
        nik = ""

    typed = posted.values.get("kode", "")
    state = state_of(request)
    # Only the recovery code proves a draft: it is shown in the owner's browser and sent
    # to the owner's contact, never printed anywhere (a booking code is no proof: anyone
    # can book with a stranger's NIK). Guesses are limited per address and per NIK.
    allowed = await allow_attempt(state.redis, state.keys, RECOVERY_CODE,
                                  client_address(request), nik or "-")
    if not allowed:
        data = await run_in_threadpool(_open_draft, request, browser.tag)
        context = {**_form_context(data), **_session_context(live[1]),
                   "restore_error": N_("Terlalu banyak percobaan. Coba lagi dalam 15 menit.")}
        return render(request, "form.html", context, status=429,
                      headers={"Retry-After": str(RECOVERY_CODE.seconds)})

    def adopt() -> bool:
        with state.db() as session:
            found = adopt_draft(session, browser.tag, nik, typed)
            session.commit()
            return found is not None

    restored = bool(nik) and await run_in_threadpool(adopt)
    if not restored:
        failed_attempt(RECOVERY_CODE)
    data = await run_in_threadpool(_open_draft, request, browser.tag)
    context = {**_form_context(data), **_session_context(live[1]),
               "restore_message": N_("Draf berhasil dipulihkan.") if restored else None,
               "restore_error": None if restored else
               N_("Draf tidak ditemukan. Periksa NIK dan kode pemulihan.")}
    return render(request, "form.html", context, status=200 if restored else 422)


def _store_result(request: Request, owner: str, key: str, data: dict[str, Any],
                  number: int) -> Submission:
    state = state_of(request)
    with state.db() as session:
        submission, new = store_submission(
            session, idempotency_key=key, nik=str(data["nik"]), name=str(data["nama"]),
            data=data, queue_number=number,
        )
        if new:
            notify_submission_receipt(session, state.queue,
                                      state.notify, submission)
        close_draft(session, owner, _form_session(request) or "")
        session.commit()
        return submission


def _find_submission(request: Request, key: str) -> Submission | None:
    with state_of(request).db() as session:
        return submission_by_key(session, key)


async def submit(request: Request) -> Response:
    try:
        posted = await checked_post(request, max_files=len(UPLOADS))
    except Refused as exc:
        return refusal_page(request, exc)
    try:
        return await _submit(request, posted)
    finally:
        await posted.close()


async def _submit(request: Request, posted: PostedForm) -> Response:
    state = state_of(request)
    browser = browser_of(request)
    key = posted.values.get("submit_key", "")
    if not SUBMIT_KEY.fullmatch(key):
        key = ""  # not one we issued: no record can be found or stored under it
    if key:
        done = await run_in_threadpool(_find_submission, request, key)
        if done is not None:  # a second click or a resubmit: the same record
            return to_receipt(request, done)
    if not _was_admitted(request):
        # Never admitted: nothing of this request is stored (drafts exist only for
        # browsers the queue let in).
        return render(request, "session_over.html", {}, status=403)
    today = dt.datetime.now(state.settings.tz).date()
    result = validate_registration(posted.values, today)
    # Every attempt of an admitted browser is saved first, valid or not, even when its
    # session has just ended.
    data = await run_in_threadpool(_save_values, request, browser.tag, result.values)
    live = await live_session(request)
    if live is None:
        return render(request, "session_over.html", {"saved": True}, status=403)
    ticket, grant = live
    files = dict(data.get("_files", {}))
    for name in UPLOAD_NAMES:
        upload = posted.files.get(name)
        if upload is not None and upload.filename:
            try:
                files[name] = (await _store_upload(request, browser.tag, name, upload)).as_dict()
            except UploadError as exc:
                result.errors[name] = str(exc)
        if name not in files and name not in result.errors:
            result.errors[name] = N_("Berkas ini wajib diunggah.")
    data["_files"] = files
    if not result.ok or not key:
        context = {**_form_context(data, result.values, result.errors, result.warnings),
                   **_session_context(grant), "proved": _proved(request, result.values)}
        return render(request, "form.html", context, status=422)
    if not proved(str(state.settings.secret_key), request, str(result.cleaned["nik"])):
        # Anyone can type a stranger's NIK: a registration is stored only for a NIK this
        # browser proved (the code went to the roster's contact, or binds this one).
        errors = {"nik": N_("Verifikasi NIK Anda dulu: kirim kode ke nomor HP atau e-mail "
                            "Anda (kotak di atas), lalu kirim pendaftaran lagi.")}
        context = {**_form_context(data, result.values, errors, result.warnings),
                   **_session_context(grant), "proved": False}
        return render(request, "form.html", context, status=403)
    record = {**result.cleaned, "berkas": files}
    try:
        submission = await run_in_threadpool(
            _store_result, request, browser.tag, key, record, ticket.number
        )
    except AlreadyRegistered:
        errors = {**result.errors, "nik": N_("NIK ini sudah menyelesaikan pendaftaran.")}
        context = {**_form_context(data, result.values, errors, result.warnings),
                   **_session_context(grant)}
        return render(request, "form.html", context, status=409)
    try:
        await state.room.finish(ticket.session_id)
    except Exception as exc:
        if not redis_down(exc):
            raise
        # The record is stored: show the receipt; the place frees itself at its timeout.
        log.warning("could not free a place after a submission: Redis unavailable")
    return to_receipt(request, submission)


routes = [
    Route("/formulir", form_page, methods=["GET"]),
    Route("/formulir", submit, methods=["POST"]),
    Route("/formulir/draf", save_draft_endpoint, methods=["POST"]),
    Route("/formulir/berkas", upload_endpoint, methods=["POST"]),
    Route("/formulir/pulihkan", restore_endpoint, methods=["POST"]),
]
