"""Staff roster import: read a CSV or XLSX roster, validate each row, report the bad ones."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError
from email_validator import validate_email as _check_email

from scheduler.nik import InvalidField, mask_nik, validate_nik
from scheduler.text import N_, Message, Typed

__all__ = [
    "BadRow",
    "InvalidField",
    "Registrant",
    "RosterChecker",
    "RosterFormatError",
    "RosterReport",
    "RosterTable",
    "parse_roster",
    "read_roster",
    "validate_email",
    "validate_name",
    "validate_nik",
    "validate_phone",
]

# Bad-row reason codes, in the order each row is checked; a row gets the first that fails.
REASONS = (
    "nik_length",
    "nik_letters",
    "nik_bad_date",
    "nik_bad_region",
    "nik_duplicate",
    "phone_invalid",
    "email_invalid",
    "name_missing",
)

# Canonical field -> header spellings seen in agency spreadsheets, compared after
# _header_key() folds case and punctuation ("No. HP" and "no_hp" are the same).
_ALIASES: dict[str, tuple[str, ...]] = {
    "nik": ("nik", "no_nik", "nomor_nik", "nik_ktp"),
    "name": ("nama", "name", "nama_lengkap"),
    "unit_kerja": ("unit_kerja", "unit"),
    "instansi": ("instansi",),
    "jabatan": ("jabatan",),
    "phone": ("telepon", "phone", "hp", "no_hp", "nomor_hp", "telp", "no_telp", "no_telepon"),
    "email": ("email", "e_mail"),
}
_FIELD_OF_KEY = {alias: field for field, aliases in _ALIASES.items() for alias in aliases}
_REQUIRED = ("nik", "name")
_DELIMITERS = (",", ";", "\t")
_SPACES = re.compile(r"\s+")


class RosterFormatError(ValueError):
    """The file as a whole cannot be read as a roster; the message is in Indonesian."""


@dataclass(frozen=True, slots=True)
class Registrant:
    """One accepted roster row, normalised."""

    nik: str
    name: str
    unit_kerja: str
    instansi: str
    jabatan: str
    phone_e164: str
    email: str | None


@dataclass(frozen=True, slots=True)
class BadRow:
    """One rejected roster row; the NIK is masked so the report can be handed around."""

    row_number: int
    reason: str
    message: str
    nik_masked: str
    name: str


@dataclass(frozen=True, slots=True)
class RosterReport:
    """The outcome of one import: the rows to keep and the rows to send back for fixing."""

    rows: tuple[Registrant, ...]
    bad_rows: tuple[BadRow, ...]

    @property
    def total_rows(self) -> int:
        """Number of data rows read (valid plus bad)."""
        return len(self.rows) + len(self.bad_rows)

    def counts_by_reason(self) -> dict[str, int]:
        """Return the number of bad rows per reason code (only reasons that occur)."""
        counts: dict[str, int] = {}
        for bad in self.bad_rows:
            counts[bad.reason] = counts.get(bad.reason, 0) + 1
        return counts

    def bad_rows_csv(self) -> str:
        """Return the row-by-row error report as CSV text, with NIKs masked."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["baris", "kode", "keterangan", "nik", "nama"])
        for bad in self.bad_rows:
            writer.writerow(
                [bad.row_number, bad.reason, bad.message, bad.nik_masked, _csv_safe(bad.name)]
            )
        return out.getvalue()


def validate_phone(value: str) -> str:
    """Return an Indonesian phone number in E.164 (+62...), or raise InvalidField(phone_invalid)."""
    text = value.strip()
    if not text:
        # The phone is the one contact every registrant must have: SMS reaches
        # people without e-mail, so an empty number is rejected, not skipped.
        raise InvalidField("phone_invalid", N_("Nomor telepon wajib diisi."))
    try:
        number = phonenumbers.parse(text, "ID")
    except phonenumbers.NumberParseException as exc:
        raise InvalidField("phone_invalid", Message(
            N_("Nomor telepon tidak dapat dibaca: %(text)s."), text=Typed(text))) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidField("phone_invalid", Message(
            N_("Nomor telepon tidak valid: %(text)s."), text=Typed(text)))
    if number.country_code != 62:
        # Reminders go out through an Indonesian SMS gateway.
        raise InvalidField("phone_invalid", Message(
            N_("Gunakan nomor telepon Indonesia (+62): %(text)s."), text=Typed(text)))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_email(value: str) -> str | None:
    """Return the normalised e-mail address, None when empty, or raise InvalidField."""
    text = value.strip()
    if not text:
        return None
    try:
        checked = _check_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidField("email_invalid", Message(
            N_("Alamat e-mail tidak valid: %(text)s."), text=Typed(text))) from exc
    # Mail providers treat the local part case-insensitively in practice, and
    # notifications are de-duplicated per recipient, so one spelling is kept.
    return checked.normalized.lower()


def validate_name(value: str) -> str:
    """Return the name trimmed with inner whitespace collapsed, or raise InvalidField."""
    name = _SPACES.sub(" ", value).strip()
    if not name:
        raise InvalidField("name_missing", N_("Nama wajib diisi."))
    return name


@dataclass(frozen=True, slots=True)
class RosterTable:
    """A roster file read but not yet checked: where each field's column is, and the rows."""

    columns: Mapping[str, int]
    # (row number as a spreadsheet shows it, cells); blank rows are already left out.
    records: tuple[tuple[int, Sequence[str]], ...]

    @property
    def total_rows(self) -> int:
        """Number of non-blank data rows."""
        return len(self.records)


class RosterChecker:
    """Checks roster rows batch by batch; a NIK accepted in one batch is a duplicate later."""

    def __init__(self, columns: Mapping[str, int], today: dt.date) -> None:
        self.columns = columns
        self.today = today
        self._seen_niks: set[str] = set()

    def check(self, records: Iterable[tuple[int, Sequence[str]]]) -> RosterReport:
        """Return the valid and bad rows of ``records`` (numbered as the spreadsheet shows)."""
        rows: list[Registrant] = []
        bad_rows: list[BadRow] = []
        for row_number, record in records:
            fields = {
                field: (record[index] if index < len(record) else "").strip()
                for field, index in self.columns.items()
            }
            raw_nik = fields["nik"]
            try:
                nik = validate_nik(raw_nik, self.today)
                # Only earlier *accepted* rows count: if the first copy was rejected
                # for a bad phone, the corrected copy further down is the real one.
                if nik in self._seen_niks:
                    raise InvalidField(
                        "nik_duplicate", "NIK sudah tercantum pada baris sebelumnya."
                    )
                phone = validate_phone(fields.get("phone", ""))
                email = validate_email(fields.get("email", ""))
                name = validate_name(fields["name"])
            except InvalidField as exc:
                bad_rows.append(
                    BadRow(row_number, exc.reason, exc.message, mask_nik(raw_nik), fields["name"])
                )
                continue
            self._seen_niks.add(nik)
            rows.append(
                Registrant(
                    nik=nik,
                    name=name,
                    unit_kerja=_SPACES.sub(" ", fields.get("unit_kerja", "")),
                    instansi=_SPACES.sub(" ", fields.get("instansi", "")),
                    jabatan=_SPACES.sub(" ", fields.get("jabatan", "")),
                    phone_e164=phone,
                    email=email,
                )
            )
        return RosterReport(tuple(rows), tuple(bad_rows))


def read_roster(data: bytes, filename: str) -> RosterTable:
    """Read a CSV or XLSX roster's header and rows, unchecked; raise RosterFormatError."""
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        records = _xlsx_records(data)
    else:
        records = _csv_records(data)
    try:
        header = next(records, None)
        if header is None:
            raise RosterFormatError("Berkas kosong: baris judul kolom tidak ditemukan.")
        columns = _map_columns(header)
        # The header is row 1, as the operator sees it in a spreadsheet.
        rows = tuple(
            (row_number, record)
            for row_number, record in enumerate(records, start=2)
            if any(cell.strip() for cell in record)
        )
    except csv.Error as exc:
        raise RosterFormatError(f"Berkas CSV tidak dapat dibaca: {exc}.") from exc
    return RosterTable(columns, rows)


def parse_roster(data: bytes, filename: str, today: dt.date | None = None) -> RosterReport:
    """Read a CSV or XLSX roster and return its valid and bad rows; raise RosterFormatError."""
    table = read_roster(data, filename)
    return RosterChecker(table.columns, today or dt.date.today()).check(table.records)


def _header_key(cell: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", cell.strip().lower()).strip("_")


def _map_columns(header: Sequence[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        field = _FIELD_OF_KEY.get(_header_key(cell))
        # The first column wins when a header repeats, like a reader's eye.
        if field is not None and field not in columns:
            columns[field] = index
    missing = [field for field in _REQUIRED if field not in columns]
    if missing:
        names = {"nik": "nik", "name": "nama"}
        found = ", ".join(cell.strip() for cell in header if cell.strip()) or "(tidak ada)"
        raise RosterFormatError(
            "Kolom wajib tidak ditemukan: "
            + ", ".join(names[field] for field in missing)
            + f". Kolom yang terbaca: {found}."
        )
    return columns


def _csv_records(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFormatError(
            "Berkas CSV harus berenkode UTF-8 (di Excel: Simpan Sebagai \u2192 CSV UTF-8)."
        ) from exc
    first_line = text.split("\n", 1)[0]
    return csv.reader(io.StringIO(text, newline=""), delimiter=_guess_delimiter(first_line))


def _guess_delimiter(header_line: str) -> str:
    # Excel in an Indonesian locale writes ';' because ',' is the decimal mark;
    # the delimiter that yields the most known column names is the right one.
    def known_columns(delimiter: str) -> int:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return sum(_header_key(cell) in _FIELD_OF_KEY for cell in cells)

    return max(_DELIMITERS, key=lambda d: (known_columns(d), header_line.count(d)))


def _xlsx_records(data: bytes) -> Iterator[list[str]]:
    import openpyxl  # imported here: only XLSX imports pay for it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RosterFormatError("Berkas XLSX rusak atau bukan berkas Excel.") from exc
    try:
        sheet = workbook.worksheets[0]
        # Read eagerly: a read-only workbook must stay open while rows are read.
        rows = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    return iter(rows)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        # Spreadsheets store digit strings typed without a leading ' as numbers.
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _csv_safe(text: str) -> str:
    # The report is opened in Excel; a cell starting with = + - @ would run as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
