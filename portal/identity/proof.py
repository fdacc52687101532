"""Proved NIKs, remembered in this browser only: a signed cookie bound to its secret.

One browser may prove a few NIKs (a shared office computer, a family's phone); each
proof lasts PROOF_SECONDS from when its code was typed. The NIKs are not in the
cookie, only their keyed digests.
"""

from __future__ import annotations

import hmac
import time

from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

from portal.browser import Browser, browser_of, cookie_header
from portal.identity.codes import nik_digest

PROOF_COOKIE = "antrean_id"
PROOF_SECONDS = 2 * 3600  # long enough for a form on slow mobile data; short if a phone is lost
MAX_PROVED = 8


def _signer(secret: str) -> Signer:
    return Signer(secret, salt="antrean.identity")


def _proofs(secret: str, request: Request, now: float) -> dict[str, int]:
    """The live proofs of this request's browser: NIK digest -> when it was proved."""
    raw = request.cookies.get(PROOF_COOKIE)
    if not raw:
        return {}
    try:
        value = _signer(secret).unsign(raw).decode()
    except (BadSignature, UnicodeDecodeError):
        return {}
    tag, _, entries = value.partition(".")
    browser = browser_of(request)
    if browser.is_new or not hmac.compare_digest(tag, browser.tag):
        return {}  # another browser's cookie: it proves nothing here
    found: dict[str, int] = {}
    for entry in entries.split("~"):
        digest, _, at = entry.partition("-")
        if at.isdigit() and now - int(at) < PROOF_SECONDS:
            found[digest] = int(at)
    return found


def remember_proof(response: Response, secret: str, request: Request, browser: Browser,
                   nik: str, *, secure: bool, now: float | None = None) -> None:
    """Add ``nik`` to this browser's proofs (the oldest go past MAX_PROVED)."""
    moment = int(now or time.time())
    proofs = _proofs(secret, request, moment) if not browser.is_new else {}
    proofs[nik_digest(secret, nik)] = moment
    kept = sorted(proofs.items(), key=lambda item: item[1])[-MAX_PROVED:]
    value = browser.tag + "." + "~".join(f"{digest}-{at}" for digest, at in kept)
    response.raw_headers.append((b"set-cookie", cookie_header(
        PROOF_COOKIE, _signer(secret).sign(value).decode(), PROOF_SECONDS, secure=secure)))


def proved_any(secret: str, request: Request, now: float | None = None) -> bool:
    """Whether this request's browser holds any live proof (which NIK it cannot tell)."""
    return bool(_proofs(secret, request, now or time.time()))


def proved(secret: str, request: Request, nik: str, now: float | None = None) -> bool:
    """Whether this request's browser proved ``nik`` within the last PROOF_SECONDS."""
    if not nik:
        return False
    digest = nik_digest(secret, nik)
    return any(hmac.compare_digest(digest, known)
               for known in _proofs(secret, request, now or time.time()))
