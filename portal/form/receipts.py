"""The receipt: kept in the browser that submitted, found again anywhere with the NIK proved.

The submitting browser holds a signed cookie naming its registration number. Any
other browser (the link in the receipt e-mail, a new phone) asks for the NIK and
proves it as everywhere else: the one-time code goes to the contact the agency
holds, and only then is the receipt shown. Without proof the answer is the same
whether the NIK registered or not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date
from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.admin.masking import mask_email, mask_phone
from portal.browser import RECEIPT_COOKIE, SESSION_COOKIE, browser_of, client_address, set_cookie
from portal.form.fields import DOCUMENTS, FIELDS
from portal.form.models import Submission
from portal.form.receipt_pdf import receipt_document
from portal.form.seal import Seal, documents_of, matches, normalise_code, seal_of
from portal.i18n import N_, language_of, translations
from portal.identity.proof import proved
from portal.identity.routes import LIMITED, SENT, USED_UP, WRONG, check_code, remember, send_code
from portal.identity.store import Checked
from portal.state import state_of
from portal.times import local_time
from portal.web import Refused, checked_form, refusal_page, render
from scheduler.nik import InvalidField, mask_nik, validate_nik

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


# Shown on the receipt after the name and NIK; contact details half hidden, as on paper
# a receipt passes through other hands.
_MASKED = {"telepon": mask_phone, "email": mask_email}
_NOT_LISTED = ("nik", "nama")


@dataclass(frozen=True)
class Document:
    """One uploaded document as the receipt lists it."""

    label: str
    file_name: str
    size_kb: int
    sha256: str


@dataclass(frozen=True)
class ReceiptView:
    """Everything a receipt shows, for the page, the PDF and the public check alike."""

    number: str
    received: str
    name: str
    nik: str
    details: list[tuple[str, str]]
    documents: list[Document]
    seal: Seal


def _shown_value(field: Any, value: Any, locale: str) -> str:
    if field.choices:
        return translations(locale).gettext(str(dict(field.choices).get(value, value)))
    if field.kind == "date":
        try:
            return format_date(dt.date.fromisoformat(str(value)), "d MMMM y", locale=locale)
        except ValueError:
            return str(value)
    masked = _MASKED.get(field.name)
    return (masked(str(value)) or "") if masked else str(value)


def receipt_view(request: Request, submission: Submission, locale: str) -> ReceiptView:
    """The receipt of ``submission`` in the page's language and the registration's zone."""
    settings = state_of(request).settings
    data = submission.data or {}
    gettext = translations(locale).gettext
    details = [(gettext(f.label), _shown_value(f, data[f.name], locale)) for f in FIELDS
               if f.name not in _NOT_LISTED and data.get(f.name)]
    documents = [Document(gettext(DOCUMENTS.get(slot, slot)), str(info.get("name", "")),
                          max(1, round(int(info.get("size", 0)) / 1024)),
                          str(info.get("sha256", "")))
                 for slot, info in documents_of(data)]
    return ReceiptView(
        number=submission.registration_number,
        received=local_time(submission.created_at, settings.tz, locale=locale, long=True),
        name=submission.name, nik=mask_nik(submission.nik), details=details,
        documents=documents,
        seal=seal_of(str(settings.secret_key), settings.notify.public_url, submission))


async def _kept_submission(request: Request) -> Submission | None:
    number = kept_number(request)
    if number is None:
        return None
    return await run_in_threadpool(_one, request, registration_number=number)


async def receipt(request: Request) -> Response:
    submission = await _kept_submission(request)
    if submission is None:
        return _find_page(request)
    view = receipt_view(request, submission, language_of(request))
    return render(request, "receipt.html", {"receipt": view},
                  headers={"Cache-Control": "private, no-store"})


async def receipt_pdf(request: Request) -> Response:
    submission = await _kept_submission(request)
    if submission is None:
        return RedirectResponse("/kwitansi", status_code=303)
    lang = language_of(request)
    view = receipt_view(request, submission, lang)
    data = await run_in_threadpool(receipt_document, view, state_of(request).settings.agency,
                                   lang)
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="bukti-{view.number}.pdf"',
        "Cache-Control": "private, no-store"})


async def verify_receipt(request: Request) -> Response:
    """The public check of a receipt: its number and code, typed or from the QR code."""
    number = request.query_params.get("n", "").strip().upper()[:24]
    code = request.query_params.get("k", "")[:40]
    context: dict[str, Any] = {"values": {"n": number, "k": normalise_code(code)}}
    if number or code:
        submission = await run_in_threadpool(_one, request, registration_number=number) \
            if number else None
        view = None if submission is None else receipt_view(request, submission,
                                                            language_of(request))
        # An unknown number answers exactly as a wrong code does.
        if view is not None and matches(view.seal.code, code):
            context["receipt"] = view
        else:
            context["mismatch"] = True
    status = 404 if context.get("mismatch") else 200
    # Never kept by a shared cache: a proxy holding a page with a person's name is unwanted.
    return render(request, "receipt_verify.html", context, status=status,
                  headers={"Cache-Control": "private, no-store"})


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
    Route("/kwitansi.pdf", receipt_pdf, methods=["GET"]),
    Route("/cek-bukti", verify_receipt, methods=["GET"]),
    Route("/kwitansi/kode", find_send, methods=["POST"]),
    Route("/kwitansi/verifikasi", find_verify, methods=["POST"]),
]
