"""One-time codes (pure): made at random, kept only as keyed digests bound to one NIK."""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_DIGITS = 6


def new_code(rng: secrets.SystemRandom | None = None) -> str:
    """A code of CODE_DIGITS digits, from the operating system's randomness."""
    return f"{(rng or secrets.SystemRandom()).randrange(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def normalise_code(typed: str) -> str:
    """A code as people type it: spaces, dashes and dots left out."""
    return "".join(ch for ch in typed if ch.isdigit())


def code_digest(secret: str, nik: str, code: str) -> str:
    """The keyed digest kept instead of the code; a code for one NIK fits no other."""
    message = f"identity-code|{nik}|{normalise_code(code)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def nik_digest(secret: str, nik: str) -> str:
    """A keyed digest of a NIK, for keys and cookies that must not spell it out."""
    return hmac.new(secret.encode(), f"nik|{nik}".encode(), hashlib.sha256).hexdigest()[:32]
