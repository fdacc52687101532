"""The receipt: kept in the browser that submitted, found again anywhere with the NIK proved.

The submitting browser holds a signed cookie naming its registration number. Any
other browser (the link in the receipt e-mail, a new phone) asks for the NIK and
proves it as everywhere else: the one-time code goes to the contact the agency
holds, and only then is the receipt shown. Without proof the answer is the same
whether the NIK registered or not.
"""

from __future__ import annotations

from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.browser import RECEIPT_COOKIE, SESSION_COOKIE, browser_of, client_address, set_cookie
from portal.form.fields import FIELDS, UPLOADS
from portal.form.models import Submission
from portal.i18n import N_, language_of
from portal.identity.proof import proved
from portal.identity.routes import LIMITED, SENT, USED_UP, WRONG, check_code, remember, send_code
from portal.identity.store import Checked
from portal.state import state_of
from portal.times import local_time
from portal.web import Refused, checked_form, refusal_page, render
from scheduler.nik import InvalidField, validate_nik

RECEIPT_SECONDS = 30 * 86400
NONE_FOR_NIK = N_("Belum ada pendaftaran yang selesai untuk NIK ini.")


def _signer(request: Request) -> Signer:
    return Signer(str(state_of(request).settings.secret_key), salt="antrean.receipt")


def keep_receipt(request: Request, response: Response, submission: Submission) -> None:
    """Let this browser open the receipt of ``submission`` from now on."""
    value = _signer(request).sign(submission.registration_number).decode()
    set_cookie(response, RECEIPT_COOKIE, value, RECEIPT_SECONDS,
               secure=state_of(request).settings.cookie_secure)


def to_receipt(request: Request, submission: Submission) -> Response:
    """After a submission: to the receipt, with the form session over."""
    response = RedirectResponse("/kwitansi", status_code=303)
    keep_receipt(request, response, submission)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def kept_number(request: Request) -> str | None:
    """The registration number this browser's receipt cookie names, if it is genuine."""
    try:
        return _signer(request).unsign(request.cookies.get(RECEIPT_COOKIE, "")).decode()
    except BadSignature:
        return None


def _one(request: Request, **where: str) -> Submission | None:
    with state_of(request).db() as session:
        query = select(Submission)
        for name, value in where.items():
            query = query.where(getattr(Submission, name) == value)
        return session.scalars(query).first()


def _find_page(request: Request, step: str = "ask", nik: str = "",
               errors: dict[str, str] | None = None, message: str | None = None,
               status: int = 200) -> Response:
    return render(request, "receipt_find.html", {"step": step, "values": {"nik": nik},
                                                 "errors": errors or {}, "message": message},
                  status=status)


async def receipt(request: Request) -> Response:
    number = kept_number(request)
    submission = None if number is None else await run_in_threadpool(
        _one, request, registration_number=number)
    if submission is None:
        return _find_page(request)
    state = state_of(request)
    received = local_time(submission.created_at, state.settings.tz,
                          locale=language_of(request)) if submission.created_at else ""
    return render(request, "receipt.html", {"submission": submission, "fields": FIELDS,
                                            "uploads": UPLOADS, "received": received})


async def _show_for(request: Request, nik: str) -> Response:
    """The receipt of a NIK this browser proved, kept in the browser from now on."""
    submission = await run_in_threadpool(_one, request, nik=nik)
    if submission is None:
        return _find_page(request, nik=nik, errors={"nik": NONE_FOR_NIK}, status=404)
    response = RedirectResponse("/kwitansi", status_code=303)
    keep_receipt(request, response, submission)
    return response


async def _nik_posted(request: Request) -> tuple[dict[str, str], str] | Response:
    """The posted form and its NIK, or the page that says what is wrong with them."""
    try:
        form = await checked_form(request)
        return form, validate_nik(form.get("nik", ""))
    except Refused as exc:
        return refusal_page(request, exc)
    except InvalidField as exc:
        return _find_page(request, errors={"nik": exc.message}, status=422)


async def find_send(request: Request) -> Response:
    state = state_of(request)
    posted = await _nik_posted(request)
    if isinstance(posted, Response):
        return posted
    _form, nik = posted
    if proved(str(state.settings.secret_key), request, nik):
        return await _show_for(request, nik)
    await send_code(state, nik, (), client_address(request))
    return _find_page(request, "code", nik, message=SENT, status=202)


async def find_verify(request: Request) -> Response:
    state = state_of(request)
    posted = await _nik_posted(request)
    if isinstance(posted, Response):
        return posted
    form, nik = posted
    outcome = await check_code(state, nik, form.get("code", ""), client_address(request))
    if outcome is not Checked.RIGHT:
        message = {Checked.LIMITED: LIMITED, Checked.USED_UP: USED_UP}.get(outcome, WRONG)
        step = "ask" if outcome is Checked.USED_UP else "code"
        return _find_page(request, step, nik, {"code": message},
                          status=429 if outcome is Checked.LIMITED else 422)
    response = await _show_for(request, nik)
    remember(state, request, response, browser_of(request), nik)
    return response


routes = [
    Route("/kwitansi", receipt, methods=["GET"]),
    Route("/kwitansi/kode", find_send, methods=["POST"]),
    Route("/kwitansi/verifikasi", find_verify, methods=["POST"]),
]
