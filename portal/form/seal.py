"""The receipt's seal: a verification code signed by the portal's key, and its QR code.

A receipt is what a person shows in a dispute ("sanggah"), so anyone must be able
to tell a genuine one from an edited one without an account. The code is an HMAC,
under a key derived from ``ANTREAN_SECRET_KEY``, of what the receipt asserts: the
registration number, the NIK, the name, the second the submission was stored and
the SHA-256 of every document. The public verification page (``/cek-bukti``)
recomputes it from the stored submission and shows what was really submitted;
a receipt whose code does not match was not issued here, and one whose printed
details differ from the page's was altered.

80 bits of code cannot be guessed, and an unknown registration number is answered
exactly like a wrong code, so the page tells nothing to someone without a receipt.
Rotating the secret key invalidates every seal: keep the key for the life of the
registration and its disputes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import segno

from portal.form.fields import UPLOADS

VERSION = 1
CODE_CHARS = 16  # base32: 80 bits
VERIFY_PATH = "/cek-bukti"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"antrean.receipt-seal.v1", hashlib.sha256).digest()


def stored_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as aware UTC (SQLite gives it back without its zone)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def stored_second(moment: dt.datetime) -> int:
    """The submission time as whole UTC seconds (what every database returns alike)."""
    return int(stored_utc(moment).timestamp())


def documents_of(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The uploaded documents of a submission, in the form's order."""
    files = data.get("berkas") or {}
    return [(name, files[name]) for name, _label in UPLOADS if isinstance(files.get(name), dict)]


def _canonical(number: str, nik: str, name: str, second: int,
               documents: list[tuple[str, dict[str, Any]]]) -> bytes:
    body = {"v": VERSION, "number": number, "nik": nik, "name": name, "at": second,
            "docs": [[slot, str(info.get("sha256", ""))] for slot, info in documents]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal_code(secret: str, *, number: str, nik: str, name: str, received: dt.datetime,
              data: dict[str, Any]) -> str:
    """The verification code, grouped for reading aloud: ``ABCD-EFGH-JKMN-PQRS``."""
    digest = hmac.new(_key(secret), _canonical(number, nik, name, stored_second(received),
                                               documents_of(data)), hashlib.sha256).digest()
    raw = base64.b32encode(digest).decode()[:CODE_CHARS]
    return "-".join(raw[i:i + 4] for i in range(0, CODE_CHARS, 4))


def normalise_code(text: str) -> str:
    """What was typed or scanned, as the code is printed (case, spaces and 0/O forgiven)."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    raw = raw.replace("0", "O").replace("1", "I").replace("8", "B")[:CODE_CHARS]
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def matches(expected: str, given: str) -> bool:
    """Constant-time comparison of a typed code with the right one."""
    return hmac.compare_digest(expected.encode(), normalise_code(given).encode())


def verify_url(public_url: str, number: str, code: str) -> str:
    """The address the QR code opens: the public check of this receipt."""
    return f"{public_url.rstrip('/')}{VERIFY_PATH}?{urlencode({'n': number, 'k': code})}"


@dataclass(frozen=True)
class Seal:
    """What a receipt prints to prove itself."""

    code: str
    url: str

    def qr_svg(self) -> str:
        """The QR code as inline SVG (scales for print, a few hundred bytes on a phone)."""
        return segno.make(self.url, error="m").svg_inline(
            scale=4, border=2, title="QR", dark="#000", light="#fff")

    def qr_png(self) -> bytes:
        """The QR code as PNG, for the PDF."""
        out = io.BytesIO()
        segno.make(self.url, error="m").save(out, kind="png", scale=8, border=2)
        return out.getvalue()


def seal_of(secret: str, public_url: str, submission: Any) -> Seal:
    """The seal of a stored submission."""
    code = seal_code(secret, number=submission.registration_number, nik=submission.nik,
                     name=submission.name, received=submission.created_at,
                     data=submission.data or {})
    return Seal(code, verify_url(public_url, submission.registration_number, code))
