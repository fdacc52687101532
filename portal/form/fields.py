"""The registration form: its fields and their server-side validation (pure).

The fields are those of the 2022 national non-ASN data registration.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from portal.i18n import N_
from scheduler.nik import InvalidField, nik_birth, validate_nik
from scheduler.roster import validate_email, validate_name, validate_phone
from scheduler.text import Message, Typed


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
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Section:
    """A group of fields shown together: one step of the form."""

    title: str
    fields: tuple[Field, ...]


EDUCATION = (("SD", "SD"), ("SMP", "SMP"), ("SMA", "SMA/SMK/MA"), ("D1", "D-I"), ("D2", "D-II"),
             ("D3", "D-III"), ("D4", "D-IV"), ("S1", "S-1"), ("S2", "S-2"), ("S3", "S-3"))
SALARY_SOURCES = (("APBN", "APBN"), ("APBD", "APBD"), ("LAINNYA", N_("Lainnya")))
SEXES = (("L", N_("Laki-laki")), ("P", N_("Perempuan")))

SECTIONS: tuple[Section, ...] = (
    Section(N_("Data pribadi"), (
        Field("nik", N_("NIK (Nomor Induk Kependudukan)"), max_length=32, inputmode="numeric",
              hint=N_("16 digit sesuai KTP.")),
        Field("nama", N_("Nama lengkap (tanpa gelar)"), autocomplete="name"),
        Field("nomor_thk2", N_("Nomor peserta THK-II"), required=False, max_length=30,
              hint=N_("Isi hanya jika Anda eks tenaga honorer kategori II.")),
        Field("tempat_lahir", N_("Tempat lahir"), max_length=100),
        Field("tanggal_lahir", N_("Tanggal lahir"), kind="date", max_length=10),
        Field("jenis_kelamin", N_("Jenis kelamin"), kind="select", max_length=1, choices=SEXES),
    )),
    Section(N_("Pendidikan terakhir"), (
        Field("pendidikan", N_("Jenjang pendidikan"), kind="select", max_length=3,
              choices=EDUCATION),
        Field("nama_sekolah", N_("Nama sekolah / perguruan tinggi")),
        Field("nomor_ijazah", N_("Nomor ijazah"), max_length=100),
        Field("tanggal_lulus", N_("Tanggal lulus"), kind="date", max_length=10),
    )),
    Section(N_("Kepegawaian"), (
        Field("nomor_sk", N_("Nomor SK pengangkatan"), max_length=100),
        Field("tanggal_sk", N_("Tanggal SK"), kind="date", max_length=10),
        Field("pejabat_sk", N_("Jabatan pejabat yang menandatangani SK")),
        Field("tmt_mulai", N_("Terhitung mulai tanggal (TMT) bekerja"), kind="date", max_length=10),
        Field("tmt_selesai", N_("Tanggal akhir masa kerja"), kind="date", required=False,
              max_length=10, hint=N_("Kosongkan jika masih bekerja.")),
        Field("jabatan", N_("Jabatan")),
        Field("unit_kerja", N_("Unit kerja")),
        Field("instansi", N_("Instansi")),
        Field("sumber_gaji", N_("Sumber gaji"), kind="select", max_length=7,
              choices=SALARY_SOURCES),
    )),
    Section(N_("Kontak"), (
        Field("telepon", N_("Nomor HP"), kind="tel", max_length=32, autocomplete="tel",
              inputmode="tel", hint=N_("Contoh: 0812 3456 7890")),
        Field("email", N_("E-mail"), kind="email", required=False, max_length=254,
              autocomplete="email", inputmode="email"),
    )),
)
FIELDS: tuple[Field, ...] = tuple(f for section in SECTIONS for f in section.fields)
FIELD_NAMES = tuple(f.name for f in FIELDS)
BY_NAME = {f.name: f for f in FIELDS}

# Uploads: the decree (SK) and the diploma, PDF only, checked by content.
UPLOADS: tuple[tuple[str, str], ...] = (
    ("berkas_sk", N_("Unggah SK (PDF, maks. 1 MB)")),
    ("berkas_ijazah", N_("Unggah ijazah (PDF, maks. 1 MB)")),
)
# What each upload is, as a receipt names it.
DOCUMENTS: dict[str, str] = {
    "berkas_sk": N_("Surat Keputusan (SK) pengangkatan"),
    "berkas_ijazah": N_("Ijazah pendidikan terakhir"),
}
MAX_UPLOAD_BYTES = 1024 * 1024

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_DOCUMENT_NUMBER = re.compile(r"^[\w./\-: ()]+$")
# Common academic and religious titles: the 2022 form asked for the name without them.
_TITLES = re.compile(
    r"(^|[\s,])(dr|drs|dra|ir|prof|h|hj|s\.?\s?(pd|kom|h|e|t|sos|ag|ip|kep|farm|gz|si|ak|ked)"
    r"|a\.?\s?md|m\.?\s?(pd|si|kom|m|h|t|ag)|se|st|sh)\.?(?=$|[\s,])",
    re.IGNORECASE,
)


class UploadError(ValueError):
    """An uploaded file that is not an acceptable PDF, with an Indonesian message."""


def check_pdf(data: bytes) -> None:
    """Accept a PDF by its content (header, trailer, size); raise UploadError if not."""
    if not data:
        raise UploadError(N_("Berkas kosong."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(N_("Berkas lebih dari 1 MB. Perkecil hasil pindaian lalu unggah lagi."))
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise UploadError(N_("Berkas bukan PDF yang utuh. Unggah berkas PDF."))


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


def _date(value: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidField("date", Message(
            N_("%(label)s: tanggal tidak valid (format TTTT-BB-HH)."), label=label)) from None


def validate_registration(raw: Mapping[str, object], today: dt.date) -> FormResult:
    """Validate every field; messages are Indonesian and keyed by field name."""
    result = FormResult(values=entered_values(raw))
    values, errors, cleaned, warnings = (result.values, result.errors, result.cleaned,
                                         result.warnings)

    for f in FIELDS:
        value = values[f.name]
        if len(value) > f.max_length:
            errors[f.name] = Message(N_("Paling banyak %(count)s karakter."), count=f.max_length)
        elif f.required and not value:
            errors[f.name] = Message(N_("%(label)s wajib diisi."), label=f.label)
        elif f.choices and value and value not in dict(f.choices):
            errors[f.name] = N_("Pilih salah satu pilihan yang tersedia.")

    def check(name: str, validator: Callable[[str], object]) -> None:
        if name in errors or (not values[name] and not BY_NAME[name].required):
            return
        try:
            outcome = validator(values[name])
        except InvalidField as exc:
            errors[name] = exc.message
        else:
            if isinstance(outcome, dt.date):
                cleaned[name] = outcome.isoformat()
            elif outcome is None or isinstance(outcome, str):
                cleaned[name] = outcome

    check("nik", lambda v: validate_nik(v, today))
    check("nama", validate_name)
    check("telepon", validate_phone)
    check("email", validate_email)
    for f in FIELDS:
        if f.kind == "date":
            check(f.name, functools.partial(_date, label=f.label))
        elif f.name not in cleaned and f.name not in errors:
            cleaned[f.name] = _SPACES.sub(" ", values[f.name]) or None

    for name in ("nomor_thk2", "nomor_ijazah", "nomor_sk"):
        number = cleaned.get(name)
        if number and not _DOCUMENT_NUMBER.match(number):
            errors[name] = N_("Hanya huruf, angka, spasi dan tanda . / - : ( ) yang diperbolehkan.")

    _check_dates(result, today)
    _check_against_nik(result, today)
    if cleaned.get("nama") and _TITLES.search(str(cleaned["nama"])):
        warnings["nama"] = N_("Nama sepertinya memuat gelar. Tulis nama tanpa gelar sesuai KTP.")
    return result


def _check_dates(result: FormResult, today: dt.date) -> None:
    cleaned, errors = result.cleaned, result.errors

    def date_of(name: str) -> dt.date | None:
        value = cleaned.get(name)
        return dt.date.fromisoformat(value) if value and name not in errors else None

    for name in ("tanggal_lahir", "tanggal_lulus", "tanggal_sk", "tmt_mulai"):
        day = date_of(name)
        if day is not None and day > today:
            errors[name] = N_("Tanggal tidak boleh di masa depan.")
    born = date_of("tanggal_lahir")
    if born is not None and not (today.year - 100 <= born.year <= today.year - 15):
        errors["tanggal_lahir"] = N_("Tanggal lahir tidak masuk akal untuk tenaga kerja.")
    # The order a working life goes in: born, then educated, then appointed.
    ordered = (("tanggal_lahir", "tanggal_lulus", N_("Tanggal lulus harus sesudah tanggal lahir.")),
               ("tanggal_lulus", "tmt_mulai", N_("TMT bekerja harus sesudah tanggal lulus.")),
               ("tanggal_lahir", "tanggal_sk", N_("Tanggal SK harus sesudah tanggal lahir.")),
               ("tmt_mulai", "tmt_selesai", N_("Tanggal akhir harus sesudah TMT bekerja.")))
    for earlier, later, message in ordered:
        first, second = date_of(earlier), date_of(later)
        if first is not None and second is not None and second <= first:
            errors[later] = message


def _check_against_nik(result: FormResult, today: dt.date) -> None:
    nik = result.cleaned.get("nik")
    if not nik:
        return
    try:
        birth = nik_birth(nik, today)
    except InvalidField:
        return
    # A NIK never changes even when its data is wrong: warn, accept.
    born = result.cleaned.get("tanggal_lahir")
    if born and "tanggal_lahir" not in result.errors and birth.birth_date.isoformat() != born:
        result.warnings["tanggal_lahir"] = Message(
            N_("Tanggal lahir berbeda dengan yang tercantum di NIK (%(date)s). Pastikan sudah "
               "benar."), date=Typed(birth.birth_date.isoformat()))
    sex = result.cleaned.get("jenis_kelamin")
    if sex and sex != birth.sex:
        result.warnings["jenis_kelamin"] = N_("Jenis kelamin berbeda dengan yang tercantum di NIK.")
