"""Booking codes: short, random, unambiguous when read aloud or typed from a phone screen.

Crockford's base32 alphabet leaves out I, L, O and U, so a code never holds a
letter that looks like 1 or 0 (or spells a word by accident); on input those
look-alikes are read as the digits people meant.
"""

from __future__ import annotations

import base64
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8  # 40 random bits: guessing one needs the owner's NIK as well
_RFC_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_FROM_RFC = str.maketrans(_RFC_ALPHABET, ALPHABET)
_LOOK_ALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = str.maketrans("", "", " -_.")


class InvalidCode(ValueError):
    """Text that cannot be a booking code."""


def new_codes(count: int) -> list[str]:
    """Return ``count`` fresh random codes (normalised, no dash), distinct from each other."""
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < count:
        missing = count - len(codes)
        # One b32encode call for the whole batch: 5 random bytes are exactly 8 symbols.
        text = base64.b32encode(secrets.token_bytes(5 * missing)).decode("ascii")
        text = text.translate(_FROM_RFC)
        for start in range(0, len(text), CODE_LENGTH):
            code = text[start : start + CODE_LENGTH]
            if code not in seen:
                seen.add(code)
                codes.append(code)
    return codes


def new_code() -> str:
    """Return one fresh random code (normalised, no dash)."""
    return new_codes(1)[0]


def format_code(code: str) -> str:
    """Return the code as people see it, in two groups of four: ``K7M2-9QXA``."""
    return f"{code[:4]}-{code[4:]}"


def parse_code(text: str) -> str:
    """Return the normalised code typed by a person (any case, dashes, I/L/O), or raise."""
    cleaned = text.translate(_SEPARATORS).upper().translate(_LOOK_ALIKES)
    if len(cleaned) != CODE_LENGTH or any(symbol not in ALPHABET for symbol in cleaned):
        raise InvalidCode("Kode pemesanan terdiri dari 8 huruf/angka, contoh K7M2-9QXA.")
    return cleaned
