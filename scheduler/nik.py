"""Indonesian identity numbers (NIK): normalising, validating, reading the birth date.

A NIK is 16 digits, ``PPRRSSDDMMYYXXXX``: province, regency and district of
registration, the birth date (women have 40 added to the day) and a serial.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from stdnum.exceptions import ValidationError
from stdnum.id import nik as stdnum_nik

from scheduler.text import N_, Message

NIK_LENGTH = 16

# People type NIKs from the card in groups ("3601 2848 1185 5133") or with the
# separators stdnum also accepts; none of these carry meaning.
_SEPARATORS = re.compile(r"[\s.\-]+")

Sex = Literal["L", "P"]  # laki-laki / perempuan, as printed on the KTP


class InvalidField(ValueError):
    """A registrant field that cannot be accepted, with a machine code and an Indonesian message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class NikBirth:
    """Birth date and sex encoded in a NIK."""

    birth_date: dt.date
    sex: Sex


def clean_nik(value: str) -> str:
    """Return the NIK with surrounding whitespace and digit-group separators removed."""
    return _SEPARATORS.sub("", value.strip())


def mask_nik(value: str) -> str:
    """Return the value with every character but the last four replaced by ``*``."""
    cleaned = clean_nik(value)
    if len(cleaned) <= 4:
        # Too short to be a NIK; showing it whole would still show the whole thing.
        return "*" * len(cleaned)
    return "*" * (len(cleaned) - 4) + cleaned[-4:]


def nik_birth(nik: str, today: dt.date | None = None) -> NikBirth:
    """Return the birth date and sex of a 16-digit NIK, or raise InvalidField(nik_bad_date).

    Days 41-71 mean a woman born on day - 40. The NIK holds only two digits of
    the year: ``yy`` is read as 20yy unless that date lies after ``today``, then
    as 19yy. (stdnum's own ``get_birth_date`` tries 19yy first, so it dates
    someone born in 2003 to 1903; honorer staff born since 2000 are common.)
    """
    today = today or dt.date.today()
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex: Sex = "L"
    if day > 40:
        day -= 40
        sex = "P"
    # stdnum reduces the day modulo 40, which also accepts days 81-91; a real
    # NIK only ever uses 01-31 and 41-71, so anything else is a typing error.
    if not 1 <= day <= 31:
        raise _bad_date()
    for year in (2000 + yy, 1900 + yy):
        try:
            born = dt.date(year, month, day)
        except ValueError:
            # 29 February can exist in one century and not the other (2000 vs 1900).
            continue
        if born <= today:
            return NikBirth(born, sex)
    raise _bad_date()


def validate_nik(value: str, today: dt.date | None = None) -> str:
    """Return the normalised 16-digit NIK, or raise InvalidField with the reason it is unusable."""
    nik = clean_nik(value)
    # Letters first: a NIK typed with the letter O for zero is the commonest
    # mistake, and "only digits" is the message that helps the person fix it.
    if nik and not (nik.isascii() and nik.isdigit()):
        raise InvalidField("nik_letters", N_("NIK hanya boleh berisi angka 0-9."))
    if len(nik) != NIK_LENGTH:
        raise InvalidField("nik_length", Message(
            N_("NIK harus 16 digit angka (tertulis %(count)s karakter)."), count=len(nik)))
    nik_birth(nik, today)
    try:
        stdnum_nik.validate(nik)
    except ValidationError as exc:
        # The date already passed our stricter check above, so what stdnum still
        # rejects is the place-of-registration code.
        raise InvalidField(
            "nik_bad_region",
            N_("Kode wilayah NIK (6 digit pertama) tidak dikenal."),
        ) from exc
    return nik


def _bad_date() -> InvalidField:
    return InvalidField(
        "nik_bad_date",
        N_("Tanggal lahir dalam NIK (digit ke-7 sampai ke-12) bukan tanggal yang ada."),
    )


def _joined(*parts: str) -> str:
    # The separators clean_nik drops may stand between any two digits.
    return _TYPED_SEPARATOR.join(parts)


_TYPED_SEPARATOR = "[ .\\-]*"


def _any_of(*alternatives: tuple[str, ...]) -> str:
    return "(?:" + "|".join(_joined(*parts) for parts in alternatives) + ")"


def nik_pattern() -> str:
    """A regular expression (ECMA and Python) matching exactly the NIKs validate_nik accepts.

    The province (first two digits) must be one stdnum knows, the birth date one
    that exists (day + 40 for women; 29 February only in years divisible by four,
    as 2000 is); the separators people type between digit groups are allowed.
    """
    from stdnum import numdb

    provinces = sorted(f"{number:02d}" for _, low, high, props, _ in numdb.get("id/loc").prefixes
                       if props for number in range(int(low), int(high) + 1))
    digit = ("[0-9]",)
    days_31 = (("0", "[1-9]"), ("[12]", "[0-9]"), ("3", "[01]"), ("4", "[1-9]"),
               ("[56]", "[0-9]"), ("7", "[01]"))
    days_30 = (("0", "[1-9]"), ("[12]", "[0-9]"), ("3", "0"), ("4", "[1-9]"), ("[56]", "[0-9]"),
               ("7", "0"))
    days_28 = (("0", "[1-9]"), ("1", "[0-9]"), ("2", "[0-8]"), ("4", "[1-9]"), ("5", "[0-9]"),
               ("6", "[0-8]"))
    year = _joined("[0-9]", "[0-9]")
    leap_year = _any_of(("[02468]", "[048]"), ("[13579]", "[26]"))
    birth = "(?:" + "|".join((
        _joined(_any_of(*days_31), _any_of(("0", "[13578]"), ("1", "[02]")), year),
        _joined(_any_of(*days_30), _any_of(("0", "[469]"), ("1", "1")), year),
        _joined(_any_of(*days_28), "0", "2", year),
        _joined(_any_of(("[26]", "9")), "0", "2", leap_year),
    )) + ")"
    province = _any_of(*((code[0], code[1]) for code in provinces))
    return ("^" + _TYPED_SEPARATOR + _joined(province, *digit * 4, birth, *digit * 4)
            + _TYPED_SEPARATOR + "$")
