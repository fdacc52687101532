import csv
import datetime as dt
import io
import json
import re

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.id import nik as stdnum_nik

from scheduler.nik import InvalidField, NikBirth, mask_nik, nik_birth
from scheduler.roster import (
    EMAIL_PATTERN,
    MAX_ROSTER_ROWS,
    MAX_XLSX_UNPACKED_BYTES,
    RosterChecker,
    RosterFormatError,
    check_xlsx_size,
    parse_roster,
    read_roster,
    validate_email,
    validate_name,
    validate_nik,
    validate_phone,
)
from tests.support import DATA, examples
from tests.support.spreadsheets import repeated, sheet, xlsx_with_sheet

TODAY = dt.date(2025, 6, 1)
HEADER = "nik,nama,unit_kerja,instansi,jabatan,telepon,email\n"


def roster(*lines: str, header: str = HEADER) -> bytes:
    return (header + "".join(line + "\n" for line in lines)).encode()


def test_sample_roster_gives_the_expected_bad_rows() -> None:
    data = (DATA / "roster-sample.csv").read_bytes()
    expected = json.loads((DATA / "roster-sample.csv.expected.json").read_text())
    report = parse_roster(data, "roster-sample.csv", today=TODAY)
    assert report.total_rows == expected["rows"]
    assert report.counts_by_reason() == expected["bad_rows_by_reason"]
    assert len(report.rows) == expected["rows"] - sum(expected["bad_rows_by_reason"].values())
    assert len({row.nik for row in report.rows}) == len(report.rows)
    assert all(row.phone_e164.startswith("+62") for row in report.rows)
    assert all(row.email is None or row.email == row.email.lower() for row in report.rows)

    # The downloadable report: one line per bad row, and never a whole NIK.
    text = report.bad_rows_csv()
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["baris", "kode", "keterangan", "nik", "nama"]
    assert len(lines) == 1 + len(report.bad_rows)
    assert not re.search(r"\d{5}", "".join(line[3] for line in lines[1:]))
    all_niks = {row["nik"] for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert not any(nik in text for nik in all_niks if len(nik) >= 8)
    # Row numbers are spreadsheet rows: the header is row 1.
    first = report.bad_rows[0]
    raw = list(csv.reader(io.StringIO(data.decode())))[first.row_number - 1]
    assert first.nik_masked == mask_nik(raw[0])


def test_sample_dates_agree_with_stdnum() -> None:
    # Validity matches stdnum even though our century rule reads the birth
    # year differently (stdnum puts people born in 2003 in 1903).
    text = (DATA / "roster-sample.csv").read_text(encoding="utf-8-sig")
    for row in csv.DictReader(io.StringIO(text)):
        nik = row["nik"].strip()
        if len(nik) != 16 or not nik.isdigit():
            continue
        try:
            nik_birth(nik, TODAY)
            ours = True
        except InvalidField:
            ours = False
        assert ours == stdnum_nik.is_valid(nik), nik


def test_semicolon_csv_with_bom_and_aliases() -> None:
    data = (
        "\ufeffNIK;Nama Lengkap;Unit Kerja;No. HP;E-Mail\n".encode()
        + (
            "3601284811855133;  Siti   Nur\u2019aini ;Dinas, Kesehatan;0812-3456-7890;"
            " Siti.Nur@Example.CO.ID \n"
        ).encode()
    )
    report = parse_roster(data, "roster.csv", today=TODAY)
    assert report.bad_rows == ()
    (row,) = report.rows
    assert row.nik == "3601284811855133"
    assert row.name == "Siti Nur\u2019aini"
    assert row.unit_kerja == "Dinas, Kesehatan"
    assert row.instansi == "" and row.jabatan == ""
    assert row.phone_e164 == "+6281234567890"
    assert row.email == "siti.nur@example.co.id"


def test_comma_csv_with_quoted_commas() -> None:
    data = roster('3601021210672749,"Iwan, S.Kom",DPUPR,Pemprov,Teknis,+62 821-1064-3364,')
    (row,) = parse_roster(data, "r.csv", today=TODAY).rows
    assert row.name == "Iwan, S.Kom"
    assert row.email is None


def test_missing_required_column_is_a_clear_error() -> None:
    with pytest.raises(RosterFormatError, match="Kolom wajib tidak ditemukan: nik"):
        parse_roster(b"nomor,nama\n1,Ani\n", "r.csv")
    with pytest.raises(RosterFormatError, match="nik, nama"):
        parse_roster(b"telepon;email\n", "r.csv")
    with pytest.raises(RosterFormatError, match="kosong"):
        parse_roster(b"", "r.csv")
    with pytest.raises(RosterFormatError, match="UTF-8"):
        parse_roster("nik,nama\n3601284811855133,Zo\u00eb\n".encode("latin-1"), "r.csv")
    with pytest.raises(RosterFormatError, match="XLSX"):
        parse_roster(b"PK\x03\x04 not really a zip", "r.xlsx")


def test_xlsx_round_trip() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["NIK", "Nama", "Instansi", "HP", "Email"])
    sheet.append(["3601284811855133", "Dian Suryana", "Pemprov Banten", 81234567890, None])
    sheet.append(["3601284811855133", "Dian Lagi", "Pemprov Banten", "081234567891", None])
    sheet.append([None, None, None, None, None])
    sheet.append(["36012848118O5133", "Ujang", "Pemprov Banten", "081234567892", "ujang@x.id"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = parse_roster(buffer.getvalue(), "roster.xlsx", today=TODAY)
    (row,) = report.rows
    assert row.name == "Dian Suryana"
    assert row.phone_e164 == "+6281234567890"
    assert row.email is None
    assert [(bad.row_number, bad.reason) for bad in report.bad_rows] == [
        (3, "nik_duplicate"),
        (5, "nik_letters"),
    ]
    assert report.bad_rows[1].nik_masked == "************5133"


def test_one_reason_per_row_in_check_order() -> None:
    data = roster(
        "3601284811855133,,,,,12345,bukan-email",  # phone before e-mail before name
        "3601284811855133,Ani,,,,081234567890,bukan-email",  # the first was not accepted
        "3601284811855133,Ani,,,,081234567890,",
        "3601284811855133,Ani Lagi,,,,081234567890,",
        "3601289911855133,Budi,,,,081234567890,",
        "3601284811855,Budi,,,,081234567890,",
        "9901284811855133,Cici,,,,081234567890,",
        ",,,,,,",
        "3601284811855134,   ,,,,081234567890,",
    )
    report = parse_roster(data, "r.csv", today=TODAY)
    assert [(bad.row_number, bad.reason) for bad in report.bad_rows] == [
        (2, "phone_invalid"),
        (3, "email_invalid"),
        (5, "nik_duplicate"),
        (6, "nik_bad_date"),
        (7, "nik_length"),
        (8, "nik_bad_region"),
        (10, "name_missing"),
    ]
    assert [row.name for row in report.rows] == ["Ani"]
    assert all(bad.message for bad in report.bad_rows)


def test_field_validators() -> None:
    assert validate_nik(" 3601 2848 1185 5133 ") == "3601284811855133"
    for raw, reason in [
        ("", "nik_length"),
        ("36012848118551", "nik_length"),
        ("3601284811855133x", "nik_letters"),
        ("36012848118551\u0663\u0663", "nik_letters"),  # Arabic-Indic digits
        ("3601280013855133", "nik_bad_date"),
        ("3601288111855133", "nik_bad_date"),  # day 81: stdnum's % 40 would accept it
    ]:
        with pytest.raises(InvalidField) as caught:
            validate_nik(raw, TODAY)
        assert caught.value.reason == reason
        assert caught.value.message
    assert validate_phone("0895-7477-2415") == "+6289574772415"
    assert validate_phone("6281257560406") == "+6281257560406"
    assert validate_phone("+62 821-1064-3364") == "+6282110643364"
    for bad_phone in ["", "12345", "+1 202-555-0123", "0812", "nomor saya"]:
        with pytest.raises(InvalidField, match="telepon"):
            validate_phone(bad_phone)
    assert validate_email("  ") is None
    assert validate_email("BUDI.S@GMAIL.COM") == "budi.s@gmail.com"
    with pytest.raises(InvalidField) as caught:
        validate_email("budi@@gmail.com")
    assert caught.value.reason == "email_invalid"
    assert validate_name("  Ni   Luh\tPutu ") == "Ni Luh Putu"
    assert validate_name("\u0639\u0644\u064a") == "\u0639\u0644\u064a"


def test_birth_date_sex_and_century_rule() -> None:
    assert nik_birth("3171015708450001", TODAY) == NikBirth(dt.date(1945, 8, 17), "P")
    assert nik_birth("3171011708450001", TODAY) == NikBirth(dt.date(1945, 8, 17), "L")
    assert nik_birth("3601010101050001", TODAY).birth_date == dt.date(2005, 1, 1)
    assert nik_birth("3601010101050001", dt.date(2004, 12, 31)).birth_date == dt.date(1905, 1, 1)
    # Later this year is the future: read as last century.
    assert nik_birth("3601011512250001", TODAY).birth_date == dt.date(1925, 12, 15)
    assert nik_birth("3601012902000001", TODAY).birth_date == dt.date(2000, 2, 29)
    with pytest.raises(InvalidField):
        nik_birth("3601012902010001", TODAY)


def test_mask_nik() -> None:
    assert mask_nik("3601284811855133") == "************5133"
    assert mask_nik(" 3601 2848 ") == "****2848"
    assert mask_nik("123") == "***"


REGIONS = ["1101", "1102", "3171", "3601", "3603", "3671", "3674"]


@settings(max_examples=examples(2000), deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    district=st.integers(0, 99),
    born=st.dates(dt.date(1925, 6, 2), TODAY),
    female=st.booleans(),
    serial=st.integers(0, 9999),
)
def test_any_nik_with_valid_date_and_region_is_accepted(
    region: str, district: int, born: dt.date, female: bool, serial: int
) -> None:
    day = born.day + 40 if female else born.day
    nik = f"{region}{district:02d}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"
    assert validate_nik(nik, TODAY) == nik
    assert nik_birth(nik, TODAY) == NikBirth(born, "P" if female else "L")


@settings(max_examples=examples(2000), deadline=None)
@given(
    before=st.text(alphabet="0123456789 ", max_size=20),
    letter=st.characters(categories=["L"]),
    after=st.text(max_size=20),
)
def test_any_nik_with_a_letter_is_rejected_as_letters(before: str, letter: str, after: str) -> None:
    with pytest.raises(InvalidField) as caught:
        validate_nik(before + letter + after, TODAY)
    assert caught.value.reason == "nik_letters"


def test_checking_in_batches_gives_what_one_pass_gives() -> None:
    data = (DATA / "roster-sample.csv").read_bytes()
    whole = parse_roster(data, "roster-sample.csv", today=TODAY)
    table = read_roster(data, "roster-sample.csv")
    assert table.total_rows == whole.total_rows
    checker = RosterChecker(table.columns, TODAY)
    batches = [checker.check(table.records[start:start + 7])
               for start in range(0, table.total_rows, 7)]
    assert tuple(row for batch in batches for row in batch.rows) == whole.rows
    assert tuple(bad for batch in batches for bad in batch.bad_rows) == whole.bad_rows


def test_a_duplicate_in_a_later_batch_is_still_a_duplicate() -> None:
    first = "3601284811855133,Dian Suryana,,,,0895-7477-2415,"
    table = read_roster(roster(first, "", "   ,  ,", first), "r.csv")
    assert [number for number, _ in table.records] == [2, 5]  # blank rows are left out
    checker = RosterChecker(table.columns, TODAY)
    assert len(checker.check(table.records[:1]).rows) == 1
    later = checker.check(table.records[1:])
    assert [(bad.row_number, bad.reason) for bad in later.bad_rows] == [(5, "nik_duplicate")]


def test_a_csv_the_reader_rejects_is_a_format_error() -> None:
    oversized = b"nik,nama\n\"" + b"x" * 200_000 + b"\",Budi\n"
    with pytest.raises(RosterFormatError, match="CSV"):
        read_roster(oversized, "r.csv")


def test_an_xlsx_is_bounded_by_what_it_unpacks_to_and_its_rows() -> None:
    # ~64 MB of empty cells packs into a few hundred KB.
    bomb = xlsx_with_sheet(sheet(repeated(b"<row>" + b"<c/>" * 1000 + b"</row>",
                                          MAX_XLSX_UNPACKED_BYTES + 8 * 2**20)))
    assert len(bomb) < 1024 * 1024
    with pytest.raises(RosterFormatError, match="Isi berkas XLSX terlalu besar: 59 MB"):
        check_xlsx_size(bomb)
    with pytest.raises(RosterFormatError, match="paling besar 50 MB"):
        read_roster(bomb, "peserta.xlsx")
    assert check_xlsx_size(b"nik,nama\n") == 9  # no zip: the reader says what is wrong
    many_rows = xlsx_with_sheet(sheet(repeated(b"<row/>", 7 * MAX_ROSTER_ROWS)))
    with pytest.raises(RosterFormatError, match="lebih dari 200.000 baris data"):
        read_roster(many_rows, "peserta.xlsx")
    one_wide_row = xlsx_with_sheet(sheet([b'<row r="2">', *repeated(b"<c/>", 4 * 10**6),
                                          b"</row>"]))
    with pytest.raises(RosterFormatError, match="lebih dari 16.384 sel"):
        read_roster(one_wide_row, "peserta.xlsx")


def test_an_xlsx_stating_a_huge_dimension_is_read_as_it_is() -> None:
    # openpyxl pads every row to the stated width, here 16,384 cells: a sheet of many
    # short rows would become billions of cells.
    forged = xlsx_with_sheet(sheet([b'<row r="2"><c t="inlineStr"><is><t>3601284811850007'
                                    b'</t></is></c><c t="inlineStr"><is><t>Ani</t></is></c>'
                                    b'<c r="XFD2"/></row>'], dimension="A1:XFD1048576"))
    table = read_roster(forged, "peserta.xlsx")
    assert table.records == ((2, ["3601284811850007", "Ani"]),)


def test_an_uploaded_csv_with_too_many_rows_is_refused() -> None:
    with pytest.raises(RosterFormatError, match="lebih dari 200.000 baris data"):
        read_roster(b"nik,nama\n" + b"\n" * (MAX_ROSTER_ROWS + 1), "peserta.csv")
    assert read_roster(b"nik,nama\n" + b"\n" * MAX_ROSTER_ROWS, "peserta.csv").records == ()
    # The command line reads a file already on the server: no upload limits.
    unbounded = read_roster(b"nik,nama\n" + b"\n" * (MAX_ROSTER_ROWS + 1) + b"1,A\n",
                            "peserta.csv", bounded=False)
    assert unbounded.records == ((MAX_ROSTER_ROWS + 3, ["1", "A"]),)


SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")


def _accepted(address: str) -> bool:
    try:
        return validate_email(address) is not None
    except InvalidField:
        return False


@given(local=st.from_regex(r"[a-z0-9._%+-]{1,20}", fullmatch=True),
       labels=st.lists(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True), max_size=3),
       special=st.sampled_from(SPECIAL_USE), upper=st.lists(st.booleans(), min_size=9, max_size=9))
def test_the_described_email_pattern_refuses_the_special_use_domains(local, labels, special,
                                                                     upper) -> None:
    flags = upper[: len(special)]
    name = "".join(c.upper() if up else c for c, up in zip(special, flags, strict=True))
    address = f"{local}@{'.'.join([*labels, name])}"
    assert re.search(EMAIL_PATTERN, address) is None
    assert not _accepted(address)


@given(address=st.emails())
def test_the_described_email_pattern_allows_what_the_validator_takes(address) -> None:
    if _accepted(address):
        assert re.search(EMAIL_PATTERN, address)
    if re.search(EMAIL_PATTERN, address) is None:
        assert address.rsplit("@", 1)[1].rstrip(".").lower().split(".")[-1] in SPECIAL_USE
