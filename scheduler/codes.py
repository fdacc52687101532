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
# Each base64 symbol stands for 6 random bits; the low 5 of them pick a symbol of
# ALPHABET (the 64 map onto the 32 two to one), so every symbol of a code is
# uniform and independent of the others, and the work is done in C, not per code.
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_FROM_BASE64 = bytes.maketrans(_BASE64.encode(), (ALPHABET * 2).encode())
_BYTES_PER_CODE = CODE_LENGTH * 3 // 4  # base64 writes 4 symbols per 3 bytes
_LOOK_ALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = str.maketrans("", "", " -_.")


class InvalidCode(ValueError):
    """Text that cannot be a booking code."""


def new_codes(count: int) -> list[str]:
    """Return ``count`` fresh random codes (normalised, no dash), distinct from each other."""
    # A dict keeps the first of any repeats and their order: distinct codes at C speed.
    codes: dict[str, None] = {}
    while len(codes) < count:
        codes.update(dict.fromkeys(_random_codes(count - len(codes))))
    return list(codes)


def _random_codes(count: int) -> list[str]:
    symbols = base64.b64encode(secrets.token_bytes(_BYTES_PER_CODE * count))
    text = symbols.translate(_FROM_BASE64).decode("ascii")
    return [text[start : start + CODE_LENGTH] for start in range(0, len(text), CODE_LENGTH)]


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
