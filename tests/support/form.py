"""The registration form as a test client walks it: valid values, tokens, joining and entering."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.support.identity import ensure_proved

VALID = {
    "nik": "3601284811855133",
    "nama": "Dian Suryana",
    "nomor_thk2": "",
    "tempat_lahir": "Pandeglang",
    "tanggal_lahir": "1985-11-08",
    "jenis_kelamin": "P",
    "pendidikan": "S1",
    "nama_sekolah": "Universitas Sultan Ageng Tirtayasa",
    "nomor_ijazah": "UNTIRTA/2008/00123",
    "tanggal_lulus": "2008-09-01",
    "nomor_sk": "800/123/DISHUB/2012",
    "tanggal_sk": "2012-01-02",
    "pejabat_sk": "Kepala Dinas Perhubungan",
    "tmt_mulai": "2012-01-02",
    "tmt_selesai": "",
    "jabatan": "Pengatur Lalu Lintas",
    "unit_kerja": "Dinas Perhubungan",
    "instansi": "Pemerintah Provinsi Banten",
    "sumber_gaji": "APBD",
    "telepon": "0895-7477-2415",
    "email": "dian.0@yahoo.co.id",
}


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


FILES = {"berkas_sk": ("sk.pdf", PDF, "application/pdf"),
         "berkas_ijazah": ("ijazah.pdf", PDF, "application/pdf")}


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"page has no {name}"
    return match.group(1)


def join(client: TestClient) -> str:
    landing = client.get("/")
    assert landing.status_code == 200
    page = client.post("/antre", data={"csrf_token": csrf(landing.text)})
    assert page.status_code == 200
    return page.text


def enter_form(client: TestClient, *, prove_nik: str | None = VALID["nik"]) -> str:
    """Join, enter the form; first prove ``prove_nik`` in this browser (None: prove nothing)."""
    if prove_nik is not None:
        ensure_proved(client, prove_nik, phone=VALID["telepon"])
    page = join(client)
    assert "Giliran Anda tiba" in page
    form = client.post("/antre/masuk", data={"csrf_token": csrf(page)})
    assert form.status_code == 200
    assert 'action="/formulir"' in form.text
    return form.text

