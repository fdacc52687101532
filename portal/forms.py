"""The registration form: its fields and their server-side validation (pure)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from scheduler.nik import InvalidField, nik_birth, validate_nik
from scheduler.roster import validate_email, validate_name, validate_phone


@dataclass(frozen=True)
class Field:
    """One input of the form."""

    name: str
    label: str
    kind: str = "text"
    required: bool = True
    max_length: int = 200
    hint: str = ""
    autocomplete: str = "off"
    inputmode: str | None = None


FIELDS: tuple[Field, ...] = (
    Field("nik", "NIK (Nomor Induk Kependudukan)", max_length=32, inputmode="numeric",
          hint="16 digit sesuai KTP."),
    Field("nama", "Nama lengkap (tanpa gelar)", autocomplete="name"),
    Field("tempat_lahir", "Tempat lahir", max_length=100),
    Field("tanggal_lahir", "Tanggal lahir", kind="date", max_length=10),
    Field("unit_kerja", "Unit kerja"),
    Field("jabatan", "Jabatan"),
    Field("telepon", "Nomor HP", kind="tel", max_length=32, autocomplete="tel",
          inputmode="tel", hint="Contoh: 0812 3456 7890"),
    Field("email", "E-mail", kind="email", required=False, max_length=254,
          autocomplete="email", inputmode="email"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class FormResult:
    """The outcome of validating a submitted form."""

    values: dict[str, str]
    cleaned: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the form can be stored as a submission."""
        return not self.errors


def clean_text(value: object, max_length: int) -> str:
    """Trim, drop control characters, normalise to NFC; keep any script and punctuation."""
    text = value if isinstance(value, str) else ""
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text)).strip()
    return text[: max_length * 2]  # keep the entered value, bounded, for showing it back


def entered_values(raw: Mapping[str, object]) -> dict[str, str]:
    """Return the form's values as typed (cleaned of control characters only)."""
    return {f.name: clean_text(raw.get(f.name, ""), f.max_length) for f in FIELDS}


def validate_registration(raw: Mapping[str, object], today: dt.date) -> FormResult:
    """Validate every field; messages are Indonesian and keyed by field name."""
    result = FormResult(values=entered_values(raw))
    values, errors, cleaned = result.values, result.errors, result.cleaned

    for f in FIELDS:
        if len(values[f.name]) > f.max_length:
            errors[f.name] = f"Paling banyak {f.max_length} karakter."
        elif f.required and not values[f.name]:
            errors[f.name] = f"{f.label} wajib diisi."

    def check(name: str, validator: Callable[[str], str | None]) -> None:
        if name in errors:
            return
        try:
            cleaned[name] = validator(values[name])
        except InvalidField as exc:
            errors[name] = exc.message

    check("nik", lambda v: validate_nik(v, today))
    check("nama", validate_name)
    check("telepon", validate_phone)
    check("email", validate_email)
    for name in ("tempat_lahir", "unit_kerja", "jabatan"):
        if name not in errors:
            cleaned[name] = re.sub(r"\s+", " ", values[name])

    if "tanggal_lahir" not in errors:
        try:
            born = dt.date.fromisoformat(values["tanggal_lahir"])
        except ValueError:
            errors["tanggal_lahir"] = "Tanggal lahir tidak valid (format TTTT-BB-HH)."
        else:
            if born > today:
                errors["tanggal_lahir"] = "Tanggal lahir tidak boleh di masa depan."
            elif born.year < today.year - 100:
                errors["tanggal_lahir"] = "Tanggal lahir tidak masuk akal."
            else:
                cleaned["tanggal_lahir"] = born.isoformat()
                nik = cleaned.get("nik")
                if nik:
                    # A NIK never changes even when its date is wrong: warn, accept.
                    try:
                        in_nik = nik_birth(nik, today).birth_date
                    except InvalidField:
                        in_nik = None
                    if in_nik is not None and in_nik != born:
                        result.warnings["tanggal_lahir"] = (
                            "Tanggal lahir berbeda dengan yang tercantum di NIK "
                            f"({in_nik.isoformat()}). Pastikan sudah benar."
                        )
    return result
