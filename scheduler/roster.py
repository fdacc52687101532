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
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError
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
    "check_xlsx_size",
    "parse_roster",
    "read_roster",
    "validate_email",
    "validate_name",
    "validate_nik",
    "validate_phone",
]

# Bad-row reason codes, in the order each row is checked; a row gets the first that fails.
REASONS = (
    "nik_rounded",
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
# What each reason means, as the import report says it.
REASON_LABELS: dict[str, str] = {
    "nik_rounded": N_("NIK rusak oleh spreadsheet"),
    "nik_length": N_("NIK tidak 16 digit"),
    "nik_letters": N_("NIK berisi selain angka"),
    "nik_bad_date": N_("Tanggal lahir dalam NIK tidak ada"),
    "nik_bad_region": N_("Kode wilayah NIK tidak dikenal"),
    "nik_duplicate": N_("NIK ganda"),
    "phone_invalid": N_("Nomor HP tidak valid"),
    "email_invalid": N_("E-mail tidak valid"),
    "name_missing": N_("Nama kosong"),
}
ROUNDED_IN_A_NUMBER_CELL = N_(
    "NIK tersimpan sebagai angka di Excel, yang hanya menyimpan 15 digit: digit terakhirnya "
    "sudah hilang. Format kolom NIK sebagai Teks, lalu ketik ulang NIK dari KTP.")
ROUNDED_SCIENTIFIC = N_(
    "NIK tertulis sebagai angka ilmiah (mis. 3,60128E+15): spreadsheet telah membulatkannya. "
    "Format kolom NIK sebagai Teks, lalu ketik ulang NIK dari KTP.")
ROUNDED_FILE = N_(
    "Hampir semua NIK di berkas ini berakhir dengan 0, tanda kolom NIK pernah menjadi angka "
    "di spreadsheet dan digit terakhirnya hilang. Periksa NIK ini dengan KTP.")
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+")
# A file whose NIKs end in 0 this often was rounded: among genuine NIKs the last digit
# (of a four-digit sequence number) is 0 for about one in ten.
ROUNDED_SHARE = 0.5
ROUNDED_MIN_ROWS = 5


# The template's example row (portal/admin/roster_upload.py): skipped on import, so a
# template sent back with the example still in it adds no one.
TEMPLATE_HEADER = ("nik", "nama", "telepon", "email", "unit_kerja", "instansi", "jabatan")
EXAMPLE_NAME = "CONTOH - baris ini dilewati saat impor"
TEMPLATE_EXAMPLE = ("3601284811850007", EXAMPLE_NAME, "081234567890", "nama@contoh.go.id",
                    "Dinas Pendidikan", "Pemerintah Provinsi Banten", "Operator Sekolah")


class NumberCell(str):
    """The text of a spreadsheet cell that held a number, not text."""

    __slots__ = ()


_FIELD_OF_KEY = {alias: field for field, aliases in _ALIASES.items() for alias in aliases}
_REQUIRED = ("nik", "name")
_DELIMITERS = (",", ";", "\t")
_SPACES = re.compile(r"\s+")


class RosterFormatError(ValueError):
    """The file as a whole cannot be read as a roster; the message is in Indonesian."""


# What one roster file may cost to read. An XLSX is a zip, and its size says little
# about the XML inside: a sheet of repeated empty cells packs a thousandfold.
MAX_XLSX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ROSTER_ROWS = 200_000  # data rows, blank ones included (the CSV limit holds as many)
MAX_ROSTER_COLUMNS = 64  # columns read from a sheet; the roster has seven
MAX_SHEET_COLUMNS = 16_384  # Excel's limit: a row with more cells is no spreadsheet's


def _dotted(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def xlsx_unpacked_size(data: bytes) -> int | None:
    """The bytes an XLSX's parts hold unpacked, read from the zip's directory alone.

    None when the data is no zip (the XLSX reader then says what is wrong). Python's
    zipfile never hands out more than a part's declared size (a part holding more
    fails its CRC check), so the sum bounds what unpacking can cost.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        return None


def check_xlsx_size(data: bytes) -> int:
    """An XLSX's unpacked size (its own size when it is no zip); raise RosterFormatError
    when it is above ``MAX_XLSX_UNPACKED_BYTES``."""
    size = xlsx_unpacked_size(data)
    if size is None:
        return len(data)
    if size > MAX_XLSX_UNPACKED_BYTES:
        raise RosterFormatError(
            f"Isi berkas XLSX terlalu besar: {_dotted(-(-size // 2**20))} MB setelah dibuka, "
            f"paling besar {MAX_XLSX_UNPACKED_BYTES // 2**20} MB. Hapus baris dan kolom "
            "kosong di luar data, atau simpan sebagai CSV UTF-8."
        )
    return size


def _too_many_rows() -> RosterFormatError:
    return RosterFormatError(
        f"Berkas berisi lebih dari {_dotted(MAX_ROSTER_ROWS)} baris data. "
        "Bagi menjadi beberapa berkas."
    )


def _check_sheet_rows(data: bytes, max_rows: int | None) -> None:
    """Refuse a worksheet with too many rows, or a row with more cells than Excel allows.

    openpyxl holds a whole row in memory at once: one row of millions of empty cells
    (a few MB of XML) would take gigabytes. This scan builds no tree and stops at
    the first excess.
    """
    from xml.parsers import expat

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            rows = cells = 0

            def start(tag: str, _attributes: object) -> None:
                nonlocal rows, cells
                local = tag.rpartition(":")[2]
                if local == "c":
                    cells += 1
                    if cells > MAX_SHEET_COLUMNS:
                        raise RosterFormatError(
                            f"Berkas XLSX berisi baris dengan lebih dari "
                            f"{_dotted(MAX_SHEET_COLUMNS)} sel."
                        )
                elif local == "row":
                    rows, cells = rows + 1, 0
                    if max_rows is not None and rows > max_rows + 1:  # and the header
                        raise _too_many_rows()

            parser = expat.ParserCreate()
            parser.ordered_attributes = True
            parser.StartElementHandler = start
            with archive.open(name) as sheet:
                try:
                    parser.ParseFile(sheet)
                except expat.ExpatError as exc:
                    raise RosterFormatError("Berkas XLSX rusak atau bukan berkas Excel.") from exc


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


# An Indonesian mobile number as the JSON API describes it (validate_phone also
# reads fixed lines and more spellings): +62 or 0, then the mobile ranges of
# phonenumbers' metadata for ID (8[1-35-9] and 7 to 10 digits), with single
# spaces or hyphens between digits. No control characters, nothing but that.
MOBILE_PHONE_PATTERN = r"^(?:\+62[ \-]?|0)8[1-35-9](?:[ \-]?[0-9]){7,10}$"


def _any_case(word: str) -> str:
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# Addresses in the special-use domains (RFC 6761: .test, .local, .invalid, ...) are
# never deliverable, and the validator refuses them; the API description says so.
EMAIL_PATTERN = (r"^(?!.*@(?:[^@]*\.)?(?:"
                 + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
                 + r")\.?$)")


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

    def __init__(self, columns: Mapping[str, int], today: dt.date,
                 rounded_file: bool = False) -> None:
        self.columns = columns
        self.today = today
        # Set when the whole file shows the spreadsheet rounding (see looks_rounded).
        self.rounded_file = rounded_file
        self._seen_niks: set[str] = set()

    def _refuse_rounded(self, cell: str) -> None:
        """Refuse a NIK a spreadsheet has visibly rounded.

        Excel keeps 15 significant digits, so a 16-digit NIK typed into a number cell
        ends in 0 whatever was typed; a number cell whose NIK ends in another digit was
        written by a program and is exact. Scientific notation is rounded by definition.
        """
        text = cell.strip()
        if _SCIENTIFIC.fullmatch(text):
            raise InvalidField("nik_rounded", ROUNDED_SCIENTIFIC)
        if isinstance(cell, NumberCell) and len(text) == 16 and text.endswith("0"):
            raise InvalidField("nik_rounded", ROUNDED_IN_A_NUMBER_CELL)
        if self.rounded_file and text.endswith("0"):
            raise InvalidField("nik_rounded", ROUNDED_FILE)

    def check(self, records: Iterable[tuple[int, Sequence[str]]]) -> RosterReport:
        """Return the valid and bad rows of ``records`` (numbered as the spreadsheet shows)."""
        rows: list[Registrant] = []
        bad_rows: list[BadRow] = []
        for row_number, record in records:
            fields = {
                field: (record[index] if index < len(record) else "").strip()
                for field, index in self.columns.items()
            }
            if fields["name"] == EXAMPLE_NAME:
                continue
            raw_nik = fields["nik"]
            index = self.columns["nik"]
            try:
                self._refuse_rounded(record[index] if index < len(record) else "")
                nik = validate_nik(raw_nik, self.today)
                # Only earlier *accepted* rows count: if the first copy was rejected
                # for a bad phone, the corrected copy further down is the real one.
                if nik in self._seen_niks:
                    raise InvalidField(
                        "nik_duplicate", N_("NIK sudah tercantum pada baris sebelumnya.")
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


def read_roster(data: bytes, filename: str, *, bounded: bool = True) -> RosterTable:
    """Read a CSV or XLSX roster's header and rows, unchecked; raise RosterFormatError.

    ``bounded`` (uploads) refuses a file above the unpacked size and row limits; the
    command line, reading a file already on the server, leaves them out.
    """
    max_rows = MAX_ROSTER_ROWS if bounded else None
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04":
        records = _xlsx_records(data, max_rows)
    else:
        records = _csv_records(data)
    try:
        header = next(records, None)
        if header is None:
            raise RosterFormatError("Berkas kosong: baris judul kolom tidak ditemukan.")
        columns = _map_columns(header)
        # The header is row 1, as the operator sees it in a spreadsheet.
        rows: list[tuple[int, Sequence[str]]] = []
        for row_number, record in enumerate(records, start=2):
            if max_rows is not None and row_number > max_rows + 1:
                raise _too_many_rows()
            if any(cell.strip() for cell in record):
                rows.append((row_number, record))
    except csv.Error as exc:
        raise RosterFormatError(f"Berkas CSV tidak dapat dibaca: {exc}.") from exc
    return RosterTable(columns, tuple(rows))


def looks_rounded(table: RosterTable) -> bool:
    """Whether the file's NIKs end in 0 far more often than genuine NIKs do."""
    index = table.columns["nik"]
    niks = [digits for _row, record in table.records
            if index < len(record) and len(digits := record[index].strip()) == 16
            and digits.isdigit()]
    if len(niks) < ROUNDED_MIN_ROWS:
        return False
    return sum(nik.endswith("0") for nik in niks) >= ROUNDED_SHARE * len(niks)


def checker_for(table: RosterTable, today: dt.date) -> RosterChecker:
    """The checker of a file's rows, knowing whether the file was rounded as a whole."""
    return RosterChecker(table.columns, today, rounded_file=looks_rounded(table))


def parse_roster(data: bytes, filename: str, today: dt.date | None = None, *,
                 bounded: bool = True) -> RosterReport:
    """Read a CSV or XLSX roster and return its valid and bad rows; raise RosterFormatError."""
    table = read_roster(data, filename, bounded=bounded)
    return checker_for(table, today or dt.date.today()).check(table.records)


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


def _xlsx_records(data: bytes, max_rows: int | None) -> Iterator[list[str]]:
    import openpyxl  # imported here: only XLSX imports pay for it

    if max_rows is not None:
        check_xlsx_size(data)
    try:
        _check_sheet_rows(data, max_rows)
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except RosterFormatError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RosterFormatError("Berkas XLSX rusak atau bukan berkas Excel.") from exc
    try:
        sheet = workbook.worksheets[0]
        # The sheet's stated dimension may be anything: rows are cut to the columns a
        # roster can use, and reading stops one row past the limit (read_roster refuses).
        sheet.reset_dimensions()
        rows: list[list[str]] = []
        # Read eagerly: a read-only workbook must stay open while rows are read.
        for row in sheet.iter_rows(values_only=True,
                                   max_row=None if max_rows is None else max_rows + 2,
                                   max_col=MAX_ROSTER_COLUMNS):
            end = len(row)
            while end and row[end - 1] is None:
                end -= 1  # the padding of blank cells at the end says nothing
            rows.append([_cell_text(value) for value in row[:end]])
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
        return NumberCell(int(value))
    if isinstance(value, int):
        return NumberCell(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _csv_safe(text: str) -> str:
    # The report is opened in Excel; a cell starting with = + - @ would run as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
