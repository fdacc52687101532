"""Chromium at phone size: the shared browser, and a visitor's steps through the pages."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Page,
    Request,
    expect,
    sync_playwright,
)

CHROMIUM = os.environ.get("ANTREAN_TEST_CHROMIUM", "/usr/bin/chromium")


CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-gpu", "--no-first-run", "--disable-sync"]


PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "id-ID",
}


WAIT_MS = 15_000  # the waiting page asks again every ~2 s; a few rounds at most


FIRST = {
    "nik": "3601284811855133",
    "nama": "Dian Suryana",
    "tempat_lahir": "Pandeglang",
    "tanggal_lahir": "1985-11-08",
    "jenis_kelamin": "P",
    "pendidikan": "S1",
    "nama_sekolah": "Universitas Sultan Ageng Tirtayasa",
    "nomor_ijazah": "UNTIRTA/2008/0412",
    "tanggal_lulus": "2008-09-20",
    "nomor_sk": "800/112-DISHUB/2012",
    "tanggal_sk": "2012-01-02",
    "pejabat_sk": "Kepala Dinas Perhubungan",
    "tmt_mulai": "2012-01-02",
    "jabatan": "Pengatur Lalu Lintas",
    "unit_kerja": "Dinas Perhubungan",
    "instansi": "Pemerintah Provinsi Banten",
    "sumber_gaji": "APBD",
    "telepon": "0895-7477-2415",
    "email": "dian.suryana@yahoo.co.id",
}


SECOND = {
    "nik": "3601281203900007",
    "nama": "Rahmat Hidayat",
    "tempat_lahir": "Serang",
    "tanggal_lahir": "1990-03-12",
    "jenis_kelamin": "L",
    "pendidikan": "SMA",
    "nama_sekolah": "SMK Negeri 1 Serang",
    "nomor_ijazah": "DN-28 Mk 0012345",
    "tanggal_lulus": "2008-05-31",
    "nomor_sk": "421/045-DISDIK/2015",
    "tanggal_sk": "2015-07-01",
    "pejabat_sk": "Kepala Dinas Pendidikan",
    "tmt_mulai": "2015-07-13",
    "jabatan": "Operator Sekolah",
    "unit_kerja": "Dinas Pendidikan",
    "instansi": "Pemerintah Provinsi Banten",
    "sumber_gaji": "APBD",
    "telepon": "0812-3456-7890",
    "email": "rahmat.hidayat@gmail.com",
}


# The smallest file the portal takes for a scanned document: a PDF by header and trailer.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: install Debian's chromium package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A migrated SQLite database, for tests that do not depend on the database engine."""
    path = tmp_path / "antrean.db"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


class Visits:
    """Every URL a browser context asked for, to prove nothing left the portal."""

    def __init__(self, context: BrowserContext) -> None:
        self.urls: list[str] = []
        context.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        self.urls.append(request.url)

    def foreign(self, base_url: str) -> list[str]:
        """URLs that went anywhere but the live server."""
        ours = urlsplit(base_url).netloc
        return [url for url in self.urls if urlsplit(url).netloc != ours]


def phone(browser: Browser, **options: object) -> tuple[BrowserContext, Page, Visits]:
    context = browser.new_context(**PHONE, **options)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT_MS)
    visits = Visits(context)
    return context, context.new_page(), visits


def take_a_number(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.get_by_role("button", name="Ambil nomor antrean sekarang").click()


def fill_form(page: Page, values: dict[str, str], javascript: bool = True) -> None:
    """Attach a PDF to every upload, type every value, and check nothing required is empty."""
    # One upload at a time, each finished before typing starts, as a person does:
    # the server merges drafts read-modify-write, so an upload racing another upload
    # or a draft save can be lost (reported as a bug).
    uploads = page.locator("#reg-form input[type=file]")
    for index in range(uploads.count()):
        upload = uploads.nth(index)
        name = upload.get_attribute("name")
        pdf: FilePayload = {"name": f"{name}.pdf", "mimeType": "application/pdf", "buffer": PDF}
        upload.set_input_files(files=[pdf])
        if javascript:
            expect(page.locator(f"#have-{name}")).to_contain_text("Sudah diunggah")
    for name, value in values.items():
        control = page.locator(f"#f-{name}")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    empty = page.eval_on_selector_all(
        "#reg-form [required]", "els => els.filter(e => !e.value).map(e => e.name)")
    assert empty == [], f"required fields this test does not fill: {empty}"


def submit_form(page: Page) -> None:
    page.get_by_role("button", name="Kirim pendaftaran").click()


def expect_receipt(page: Page, values: dict[str, str]) -> str:
    page.wait_for_url("**/kwitansi")
    expect(page.get_by_role("heading", name="Bukti Pendaftaran")).to_be_visible()
    expect(page.locator(".receipt .ok")).to_contain_text("Pendaftaran berhasil")
    number = page.locator("#registration-number")
    expect(number).to_have_text(re.compile(r"^REG-[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    expect(page.locator("main")).to_contain_text(values["nama"])
    return number.inner_text()


def screenshot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / name), full_page=True)


class ApiVisitor:
    """A visitor through the JSON API, to hold the only place while a browser waits."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10)

    def take_the_place(self) -> None:
        joined = self.client.post("/api/v1/queue/join").json()
        assert joined["state"] == "admitted", joined
        entered = self.client.post(f"/api/v1/queue/{joined['token']}/enter")
        assert entered.status_code == 200, entered.text

    def leave(self) -> None:
        finished = self.client.post("/api/v1/session/finish")
        assert finished.json() == {"finished": True}

    def close(self) -> None:
        self.client.close()



def prove_in_page(page: Page, base_url: str, database_url: str, values: dict[str, str], *,
                  via_form: bool = False, read_code: Callable[[], str] | None = None) -> None:
    """Prove the NIK of ``values`` as a person does: ask for the code, type it, come back.

    ``via_form``: through the form's own verification box (which sends the NIK and contacts
    the form showed when it was loaded) instead of the identity page's address;
    ``read_code``: where the code is read (default: the record queued for the notifier).
    """
    from tests.support.identity import latest_code

    if via_form:
        page.locator("#identity").get_by_role("button", name="Kirim kode verifikasi").click()
        page.wait_for_url("**/identitas/kode")
    else:
        page.goto(base_url + "/identitas?lanjut=/formulir")
    if page.locator("#f-code").count() == 0:  # asked for the NIK (and a contact) first
        page.fill("#f-nik", values["nik"])
        page.fill("#f-phone", values["telepon"])
        page.get_by_role("button", name="Kirim kode").click()
        page.wait_for_selector("#f-code")
    expect(page.locator("#message")).to_contain_text("Jika NIK ini terdaftar")
    code = read_code() if read_code is not None else latest_code(database_url)
    assert code is not None, "no code was queued"
    page.fill("#f-code", code)
    page.get_by_role("button", name="Verifikasi").click()
    page.wait_for_url("**/formulir")
    expect(page.locator("#nik-proved")).to_be_visible()


def log_in_to_console(page: Page, base_url: str, username: str, password: str,
                      next_path: str = "/admin") -> None:
    """Sign in on the console's login page, as an operator does, and land on ``next_path``."""
    page.goto(f"{base_url}/admin/masuk?next={next_path}")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(password)
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_url(base_url + next_path)
