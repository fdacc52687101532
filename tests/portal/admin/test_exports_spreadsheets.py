"""Exports that survive the spreadsheets operators use: read back with openpyxl and,
where LibreOffice is installed, converted by it headless as an operator's copy would be."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from portal.admin.exports import HEADER
from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.form.models import Submission
from portal.settings import Settings
from tests.support.admin import add_user, log_in

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
# Neighbours that a spreadsheet rounding to 15 digits would make one and the same.
NIKS = [f"317101170895{n:04d}" for n in range(1, 10)]
PHONE = "+6289574772415"
RECEIVED = dt.datetime(2026, 8, 31, 16, 59, 30, tzinfo=dt.UTC)  # 23.59.30 WIB


@pytest.fixture
def exported(settings: Settings) -> tuple[bytes, bytes]:
    add_user(settings, "budi", "operator")
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        session.execute(insert(Submission), [{
            "registration_number": f"REG-AAAA-000{i}", "idempotency_key": f"k{i}", "nik": nik,
            "name": "=HYPERLINK(\"http://x\")" if i == 0 else f"Pegawai {i}",
            "created_at": RECEIVED, "queue_number": i,
            "data": {"telepon": PHONE, "nomor_sk": "-12/2012", "unit_kerja": "+Dinas"},
        } for i, nik in enumerate(NIKS)])
        session.commit()
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        xlsx = client.get("/admin/ekspor/pendaftaran.xlsx").content
        csv_data = client.get("/admin/ekspor/pendaftaran.csv").content
    return xlsx, csv_data


def test_xlsx_cells_are_text_exactly_as_stored(exported: tuple[bytes, bytes]) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(exported[0]))
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == list(HEADER)
    column = {name: i for i, name in enumerate(header)}
    rows = list(sheet.iter_rows(min_row=2))
    assert [r[column["nik"]].value for r in rows] == NIKS
    for row in rows:
        for cell in row:
            # Every cell text, formatted as text: nothing a spreadsheet turns into a number.
            assert cell.data_type == "s" and cell.number_format == "@", cell
        assert row[column["telepon"]].value == PHONE  # no apostrophe
        assert row[column["waktu_kirim"]].value == "2026-08-31 23:59:30 WIB"
    # A formula-looking name is text, shown as typed, never a formula.
    assert rows[0][column["nama"]].value == '=HYPERLINK("http://x")'
    assert rows[0][column["nomor_sk"]].value == "-12/2012"
    # Columns typed into later are text too.
    columns = sheet.column_dimensions["A"]
    assert (columns.min, columns.max) == (1, len(HEADER))
    assert columns.number_format == "@"


def test_csv_is_for_programs_and_keeps_every_value(exported: tuple[bytes, bytes]) -> None:
    rows = list(csv.reader(io.StringIO(exported[1].decode("utf-8-sig"))))
    column = {name: i for i, name in enumerate(rows[0])}
    assert [r[column["nik"]] for r in rows[1:]] == NIKS
    assert {r[column["telepon"]] for r in rows[1:]} == {PHONE}
    assert {r[column["waktu_kirim"]] for r in rows[1:]} == {"2026-08-31T23:59:30+07:00"}
    # Only what could start a formula is defused.
    assert rows[1][column["nama"]] == "'=HYPERLINK(\"http://x\")"
    assert rows[1][column["unit_kerja"]] == "'+Dinas"


def _libreoffice(data: bytes, suffix: str, target: str, tmp_path: Path) -> Path:
    """Convert an export with LibreOffice headless, as an operator's copy would be made."""
    assert SOFFICE
    source = tmp_path / f"export{suffix}"
    source.write_bytes(data)
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
                    "--headless", "--convert-to", target, "--outdir", str(tmp_path / "out"),
                    str(source)], check=True, capture_output=True, timeout=180)
    return tmp_path / "out" / f"export.{target.split(':', 1)[0]}"


def _libreoffice_csv(data: bytes, suffix: str, tmp_path: Path) -> list[list[str]]:
    out = _libreoffice(data, suffix, "csv:Text - txt - csv (StarCalc):44,34,76,1", tmp_path)
    return list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed "
                    "(Debian package libreoffice-calc-nogui)")
def test_libreoffice_keeps_every_nik_and_phone_of_the_xlsx(
    exported: tuple[bytes, bytes], tmp_path: Path
) -> None:
    rows = _libreoffice_csv(exported[0], ".xlsx", tmp_path)
    column = {name: i for i, name in enumerate(rows[0])}
    assert [r[column["nik"]] for r in rows[1:]] == NIKS
    assert {r[column["telepon"]] for r in rows[1:]} == {PHONE}
    assert rows[1][column["nama"]] == '=HYPERLINK("http://x")'  # text, not run


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed "
                    "(Debian package libreoffice-calc-nogui)")
def test_libreoffice_guesses_a_csvs_types_which_is_why_people_get_the_xlsx(
    exported: tuple[bytes, bytes], tmp_path: Path
) -> None:
    # Opened in a spreadsheet, a CSV's NIK becomes a number (Excel then keeps 15 digits,
    # LibreOffice shows 3.17101170895E+15): a fact about CSV the exports page states.
    sheet = openpyxl.load_workbook(
        _libreoffice(exported[1], ".csv", "xlsx", tmp_path)).worksheets[0]
    column = [c.value for c in sheet[1]].index("nik") + 1
    assert all(sheet.cell(row, column).data_type == "n" for row in range(2, len(NIKS) + 2))
