"""What every HTML page shares: rendering with the browser's CSRF token, checked POSTs."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from portal.bodies import DOCUMENT_BODY_BYTES, FORM_BODY_BYTES, JSON_BODY_BYTES, BodyTooLarge
from portal.browser import Browser, browser_of, remember_browser
from portal.errors import ApiError, error_page
from portal.i18n import N_, remember_language, templates_for
from portal.state import state_of
from scheduler.nik import InvalidField

# The body limits live in portal.bodies, which enforces them while bodies arrive.
# Starlette's form parser: fields, files and the size of one text part.
MAX_FIELDS = 100
MAX_PART_BYTES = 64 * 1024


class Refused(Exception):
    """A POST refused before it is read: too large, or not from our own page."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


@dataclass
class PostedForm:
    """The text fields and the files of a checked POST."""

    values: dict[str, str]
    files: dict[str, UploadFile] = field(default_factory=dict)

    async def close(self) -> None:
        """Release the uploaded files' temporary storage."""
        for upload in self.files.values():
            await upload.close()


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           browser: Browser | None = None, headers: dict[str, str] | None = None) -> Response:
    """Render a page with the CSRF token of this browser."""
    state = state_of(request)
    browser = browser or browser_of(request)
    context.setdefault("csrf_token", browser.csrf_token(state.signer))
    response = templates_for(request).TemplateResponse(
        request, name, context, status_code=status, headers=headers
    )
    remember_browser(response, browser, secure=state.settings.cookie_secure)
    remember_language(request, response)
    return response


async def checked_post(request: Request, *, max_files: int = 0) -> PostedForm:
    """Read a bounded POST (urlencoded, or multipart with files) and verify its CSRF token."""
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    # a route that takes no files allows a form's size, whatever its path allows
    limit = DOCUMENT_BODY_BYTES if multipart and max_files else FORM_BODY_BYTES
    length = request.headers.get("content-length")
    if length is None and multipart:
        raise Refused(411, "length_required")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Refused(413, "too_large")
    try:
        form = await request.form(max_files=max_files, max_fields=MAX_FIELDS,
                                  max_part_size=MAX_PART_BYTES)
    except BodyTooLarge:
        raise  # portal.bodies answers it
    except Exception as exc:  # the multipart parser raises several kinds for bad bodies
        raise Refused(400, "bad_form") from exc
    posted = PostedForm({k: v for k, v in form.items() if isinstance(v, str)},
                        {k: v for k, v in form.items() if isinstance(v, UploadFile)})
    browser = browser_of(request)
    expected = browser.csrf_token(state_of(request).signer)
    if browser.is_new or not hmac.compare_digest(posted.values.get("csrf_token", ""), expected):
        await posted.close()
        raise Refused(403, "csrf")
    return posted


async def checked_form(request: Request) -> dict[str, str]:
    """Read a bounded urlencoded POST and verify its CSRF token."""
    return (await checked_post(request)).values


REFUSALS = {
    "csrf": "Formulir kedaluwarsa atau dikirim dari halaman lain. Muat ulang halaman lalu "
    "coba lagi.",
    "too_large": "Data yang dikirim terlalu besar. Setiap berkas paling besar 1 MB.",
    "length_required": "Permintaan tanpa panjang data tidak dapat diterima.",
    "bad_form": "Data formulir tidak dapat dibaca. Coba kirim lagi.",
}


def refusal_page(request: Request, exc: Refused) -> Response:
    """The page (or JSON) for a refused POST."""
    return error_page(request, exc.status, exc.code, REFUSALS.get(exc.code))


async def json_body(request: Request, *, required: bool = False) -> dict[str, Any]:
    """Parse a small JSON object body (an empty body is an empty object unless ``required``)."""
    raw = await request.body()
    if required and not raw.strip():
        raise ApiError(400, "bad_json", "Badan permintaan wajib berupa objek JSON.")
    return parse_json_object(raw)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be a small JSON object (empty means ``{}``)."""
    if len(raw) > JSON_BODY_BYTES:
        raise ApiError(413, "too_large")
    if not raw.strip() or raw == b"{}":  # what most joins send
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", "Badan permintaan bukan JSON yang sah.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "Badan permintaan harus berupa objek JSON.")
    return body


Check = tuple[str, Callable[[str], Any]]


def checked_fields(values: Mapping[str, Any], checks: Sequence[Check], *,
                   required: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    """Run each field's check; return the cleaned values and the Indonesian field errors.

    A field left out (or empty) is skipped unless ``required``; it is then given to its
    check as ``""``, which says what is missing. A field sent as ``null`` is refused.
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, check in checks:
        value = values.get(name)
        if value is None and name in values:
            # A JSON null is not an empty field: the API describes these as strings.
            errors[name] = N_("Harus berupa teks.")
            continue
        if value is None or value == "":
            if not required:
                continue
            value = ""
        if not isinstance(value, str):
            errors[name] = N_("Harus berupa teks.")
            continue
        try:
            cleaned[name] = check(value)
        except InvalidField as exc:
            errors[name] = exc.message
    return cleaned, errors
