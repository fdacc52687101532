"""Exports: complete, formula-safe, streamed in chunks, with memory that stays flat."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator

import openpyxl
import pytest
from starlette.testclient import TestClient

from portal.admin.exports import HEADER, spreadsheet_safe
from portal.admin.xlsx import stream_xlsx
from portal.app import create_app
from portal.settings import Settings
from tests.support.admin import add_user, audit_entries, insert_submissions, log_in

ROWS = 4500  # more than two keyset pages and several chunks


@pytest.fixture
def operator(settings: Settings) -> Settings:
    add_user(settings, "budi", "operator")
    insert_submissions(settings, ROWS)
    return settings


def test_csv_export_streams_every_submission(operator: Settings) -> None:
    with TestClient(create_app(operator)) as client:
        log_in(client, "budi")
        with client.stream("GET", "/admin/ekspor/pendaftaran.csv") as response:
            assert response.status_code == 200
            assert "attachment" in response.headers["content-disposition"]
            assert "content-length" not in response.headers  # streamed, not built first
            chunks = list(response.iter_bytes())
    assert len(chunks) > 2
    text = b"".join(chunks).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(HEADER) and len(rows) == ROWS + 1
    first = dict(zip(HEADER, rows[1], strict=True))
    assert first["nomor_pendaftaran"] == "REG-00000000" and first["nik"] == "3601000000000000"
    assert first["jabatan"] == "Operator Sekolah" and first["telepon"] == "+62812000000"
    assert dict(zip(HEADER, rows[8], strict=True))["unit_kerja"].startswith("'=HYPERLINK")
    assert [e.target for e in audit_entries(operator) if e.action == "export"] == [
        "submissions.csv"]


def test_xlsx_export_opens_in_a_spreadsheet_reader(operator: Settings) -> None:
    with TestClient(create_app(operator)) as client:
        log_in(client, "budi")
        response = client.get("/admin/ekspor/pendaftaran.xlsx")
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert list(rows[0]) == list(HEADER) and len(rows) == ROWS + 1
    assert rows[-1][0] == f"REG-{ROWS - 1:08d}" and rows[-1][2] == f"Pegawai {ROWS - 1}"


def test_viewers_cannot_export(settings: Settings) -> None:
    add_user(settings, "citra", "viewer")
    with TestClient(create_app(settings)) as client:
        log_in(client, "citra")
        assert client.get("/admin/ekspor/pendaftaran.csv").status_code == 403


def synthetic(count: int) -> Iterator[list[str]]:
    for i in range(count):
        yield [f"REG-{i:08d}", f"{3601000000000000 + i}", f"Pegawai {i}", "2026-08-01 10:00:00",
               str(i), *(["isian contoh"] * (len(HEADER) - 5))]


def peak_bytes(count: int) -> int:
    tracemalloc.start()
    try:
        for _chunk in stream_xlsx(HEADER, synthetic(count)):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_xlsx_memory_does_not_grow_with_the_rows() -> None:
    small, large = peak_bytes(5_000), peak_bytes(50_000)
    assert large < small * 1.5 + 512 * 1024, (small, large)
    assert large < 8 * 1024 * 1024


def test_xlsx_starts_a_new_sheet_when_one_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("portal.admin.xlsx.MAX_SHEET_ROWS", 4)
    data = b"".join(stream_xlsx(("a", "b"), ([str(i), "x"] for i in range(7))))
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    sheets = [list(ws.iter_rows(values_only=True)) for ws in workbook.worksheets]
    assert [len(rows) for rows in sheets] == [4, 4, 2]
    assert sheets[1][0] == ("a", "b") and sheets[2][-1] == ("6", "x")


def test_formulas_are_defused() -> None:
    assert spreadsheet_safe("=1+1") == "'=1+1" and spreadsheet_safe("Budi") == "Budi"
    assert spreadsheet_safe("-2+3") == "'-2+3" and spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    # A plain number cannot run anything: phones keep their "+", no apostrophe.
    assert spreadsheet_safe("+6289574772415") == "+6289574772415"
    assert spreadsheet_safe("-5") == "-5"
