"""The roster as spreadsheets make it: a template that keeps NIKs as text, and NIKs a
spreadsheet rounded refused as row problems instead of imported wrong."""

from __future__ import annotations

import io

import openpyxl
import redis
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.admin.roster_upload import INLINE_MAX_BYTES, INLINE_MAX_XLSX_UNPACKED
from portal.admin.xlsx import stream_xlsx
from portal.app import create_app
from portal.db import create_db_engine, session_factory
from portal.settings import Settings
from scheduler.models import Registrant
from scheduler.roster import (
    TEMPLATE_HEADER,
    check_xlsx_size,
    looks_rounded,
    parse_roster,
    read_roster,
)
from tests.portal.admin.test_roster_upload import count, start_upload, upload
from tests.support.admin import add_user, log_in
from tests.support.jobs import work_jobs
from tests.support.spreadsheets import repeated, sheet, xlsx_with_sheet

# Valid NIKs (Pandeglang, born 8 Nov 1985 as women), sequence numbers 0001.. .
NIKS = [f"36012848118{n:05d}" for n in range(1, 8)]


def _registrants(settings: Settings) -> dict[str, str]:
    engine = create_db_engine(settings.database_url)
    with session_factory(engine)() as session:
        found = {r.nik: r.phone or "" for r in session.scalars(select(Registrant))}
    engine.dispose()
    return found


def test_the_template_downloads_fills_and_imports(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        page = client.get("/admin/peserta/unggah")
        assert 'href="/admin/peserta/templat.xlsx"' in page.text
        template = client.get("/admin/peserta/templat.xlsx")
        assert template.status_code == 200 and "attachment" in template.headers[
            "content-disposition"]
        workbook = openpyxl.load_workbook(io.BytesIO(template.content))
        sheet = workbook.worksheets[0]
        assert [c.value for c in sheet[1]] == list(TEMPLATE_HEADER)
        assert sheet.column_dimensions["A"].number_format == "@"  # typed NIKs stay text
        assert all(c.data_type == "s" and c.number_format == "@" for c in sheet[2])
        assert workbook.sheetnames[1] == "Petunjuk" and "Teks" in str(
            workbook.worksheets[1]["A3"].value)
        # Filled in as an operator does, the example left in place.
        for n, nik in enumerate(NIKS, start=3):
            for column, value in enumerate((nik, f"Pegawai {n}", f"08123456780{n}"), start=1):
                cell = sheet.cell(n, column, value)
                cell.number_format = "@"
        filled = io.BytesIO()
        workbook.save(filled)
        answer = upload(client, "peserta.xlsx", filled.getvalue())
        assert answer.status_code == 200, answer.text[:300]
        assert (count(answer.text, "inserted"), count(answer.text, "bad")) == (len(NIKS), 0)
    stored = _registrants(settings)
    assert set(stored) == set(NIKS)  # exact digits; the example row added no one
    assert stored[NIKS[0]] == "+6281234567803"


def test_a_nik_a_spreadsheet_rounded_is_a_row_problem(settings: Settings) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["nik", "nama", "telepon"])
    sheet.append([3601284811855130, "Angka dibulatkan", "081200000001"])  # number cell, ...0
    sheet.append([3601284811850007, "Angka utuh", "081200000002"])  # number, exact digits
    sheet.append(["3601284811850010", "Teks berakhir 0", "081200000003"])  # text: genuine
    data = io.BytesIO()
    workbook.save(data)
    report = parse_roster(data.getvalue(), "peserta.xlsx")
    assert [r.nik for r in report.rows] == ["3601284811850007", "3601284811850010"]
    [bad] = report.bad_rows
    assert bad.reason == "nik_rounded" and "15 digit" in bad.message and bad.row_number == 2
    scientific = parse_roster(b"nik,nama,telepon\n3.60128E+15,Budi,081200000001\n"
                              b"3601284811850007,Ani,081200000002\n", "peserta.csv")
    assert [b.reason for b in scientific.bad_rows] == ["nik_rounded"]


def test_a_file_whose_niks_all_end_in_zero_was_rounded() -> None:
    rounded = "nik,nama,telepon\n" + "".join(f"36012848118{n:04d}0,P{n},08120000000{n}\n"
                                              for n in range(1, 9))
    table = read_roster(rounded.encode(), "peserta.csv")
    assert looks_rounded(table)
    report = parse_roster(rounded.encode(), "peserta.csv")
    assert report.rows == () and {b.reason for b in report.bad_rows} == {"nik_rounded"}
    # A genuine roster: one NIK in ten ends in 0, and those are kept.
    genuine = "nik,nama,telepon\n" + "".join(f"36012848118{n:05d},P{n},0812000000{n:02d}\n"
                                              for n in range(1, 21))
    assert not looks_rounded(read_roster(genuine.encode(), "peserta.csv"))
    assert len(parse_roster(genuine.encode(), "peserta.csv").rows) == 20


def test_the_report_names_reasons_in_words(settings: Settings) -> None:
    add_user(settings, "budi", "operator")
    bad = b"nik,nama,telepon\n3.60128E+15,Budi,0812\n3601284811850007,Ani,12\n"
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        indonesian = upload(client, "peserta.csv", bad).text
        english = client.get(client.get("/admin/peserta/unggah").url.path + "?lang=en")
        shown = upload(client, "peserta.csv", bad)
    assert "NIK rusak oleh spreadsheet" in indonesian and "Nomor HP tidak valid" in indonesian
    assert "nik_rounded" not in indonesian and "phone_invalid" not in indonesian
    assert english.status_code == 200 and shown.status_code == 200


def test_a_zip_bomb_roster_is_refused_at_once_and_nothing_is_imported(
    settings: Settings, redis_client: redis.Redis
) -> None:
    # ~64 MB of empty cells in a few hundred KB: small enough, once, to be read in the
    # request, for over a minute and hundreds of MB.
    bomb = xlsx_with_sheet(sheet(repeated(b"<row>" + b"<c/>" * 1000 + b"</row>", 64 * 2**20)))
    assert len(bomb) < INLINE_MAX_BYTES
    add_user(settings, "budi", "operator")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        answer = upload(client, "peserta.xlsx", bomb)
        client.get("/admin/peserta/unggah?lang=en")  # the console in English from now on
        english = upload(client, "peserta.xlsx", bomb)
    assert answer.status_code == 422
    assert ('id="upload-error">Berkas tidak dapat dibaca sebagai daftar peserta: Isi berkas '
            "XLSX terlalu besar: 65 MB setelah dibuka, paling besar 50 MB.") in answer.text
    assert "The file cannot be read as a roster" in english.text
    # (the size comes from the zip's directory: nothing was unpacked to know it)
    assert _registrants(settings) == {}
    assert not redis_client.keys("*roster*")  # no import was started
    assert not (settings.var_dir / "uploads" / "roster").exists() or not list(
        (settings.var_dir / "uploads" / "roster").iterdir())


ROWS = 3000


def test_an_xlsx_that_unpacks_large_is_imported_by_the_worker(
    settings: Settings, redis_client: redis.Redis
) -> None:
    rows = [[f"360128{1 + i % 28:02d}{1 + (i // 28) % 12:02d}85{1000 + i:04d}", f"Pegawai {i}",
             f"0812{i:08d}", f"pegawai.{i}@dindikbud.pandeglangkab.go.id",
             "Dinas Pendidikan dan Kebudayaan Kabupaten Pandeglang",
             "Pemerintah Kabupaten Pandeglang, Provinsi Banten",
             "Operator Sekolah Dasar Negeri dan Tenaga Administrasi"] for i in range(ROWS)]
    content = b"".join(stream_xlsx(TEMPLATE_HEADER, rows))
    # A small zip that unpacks past what a request reads itself.
    assert len(content) < INLINE_MAX_BYTES and check_xlsx_size(content) > INLINE_MAX_XLSX_UNPACKED
    add_user(settings, "budi", "operator")
    with TestClient(create_app(settings)) as client:
        log_in(client, "budi")
        location = start_upload(client, "peserta.xlsx", content)
        work_jobs(settings.notify, redis_client)
        page = client.get(location)
    assert count(page.text, "inserted") == ROWS
    assert len(_registrants(settings)) == ROWS
