"""The console in a real browser (Debian's Chromium): log in, change the cap, look around."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, FilePayload, expect

from portal.settings import Settings
from tests.support.admin import PASSWORD, add_user, generated_roster, insert_submissions
from tests.support.jobs import work_jobs

pytestmark = pytest.mark.browser

LAPTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "id-ID"}


def test_admin_logs_in_changes_the_cap_and_sees_it_live(
    browser: Browser, settings: Settings, live_server_factory, database_url: str,  # noqa: F811
    artifacts: Path,
) -> None:
    add_user(settings, "ani", "admin")
    insert_submissions(settings, 40)
    server = live_server_factory(database_url, ANTREAN_MAX_ACTIVE="5")
    db = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    context = browser.new_context(**LAPTOP)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Every file the console asks for exists (the browser's own favicon request aside).
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    try:
        page.goto(server.url + "/admin")
        page.wait_for_url("**/admin/masuk?next=/admin")
        page.get_by_label("Nama pengguna").fill("ani")
        page.get_by_label("Kata sandi").fill(PASSWORD)
        page.get_by_role("button", name="Masuk").click()
        page.wait_for_url(server.url + "/admin")

        page.get_by_role("link", name="Pengaturan").click()
        page.get_by_label("Batas pengguna aktif (cap)").fill("25")
        page.get_by_role("button", name="Simpan pengaturan").click()
        expect(page.locator("#saved")).to_be_visible()

        page.get_by_role("link", name="Dasbor").click()
        expect(page.locator('[data-tile="active_cap"]')).to_have_text(re.compile(r"^0 / 25$"))
        expect(page.locator('[data-tile="submissions_total"]')).to_have_text("40 / 0")
        expect(page.locator("#chart-queue .uplot")).to_be_visible()
        page.wait_for_timeout(2500)  # one more refresh round
        page.screenshot(path=str(artifacts / f"admin-dashboard-{db}.png"), full_page=True)

        page.get_by_role("link", name="Perencana").click()
        page.get_by_label("Jumlah pegawai di daftar").fill("60000")
        page.get_by_role("button", name="Hitung").click()
        expect(page.locator("#cap-needed")).to_have_text(re.compile(r"^\d{1,3}(\.\d{3})*$"))
        expect(page.locator("#chart-plan .uplot")).to_be_visible()
        page.screenshot(path=str(artifacts / f"admin-planner-{db}.png"), full_page=True)
    finally:
        context.close()
    assert errors == []


def test_a_large_roster_upload_shows_its_progress_and_then_the_report(
    browser: Browser, settings: Settings, live_server_factory, database_url: str,  # noqa: F811
    redis_client: redis.Redis, artifacts: Path,
) -> None:
    add_user(settings, "budi", "operator")
    server = live_server_factory(database_url)
    db = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    context = browser.new_context(**LAPTOP)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.url + "/admin/masuk")
        page.get_by_label("Nama pengguna").fill("budi")
        page.get_by_label("Kata sandi").fill(PASSWORD)
        page.get_by_role("button", name="Masuk").click()
        page.wait_for_url(server.url + "/admin")
        page.goto(server.url + "/admin/peserta/unggah")
        roster: FilePayload = {"name": "peserta.csv", "mimeType": "text/csv",
                               "buffer": generated_roster(10_000, bad=7)}
        page.set_input_files("#f-roster", files=[roster])
        page.get_by_role("button", name="Impor").click()
        page.wait_for_url(re.compile(r".*/admin/peserta/unggah/[0-9a-f]{32}$"))
        expect(page.locator("#import-status")).to_have_text(re.compile("Menunggu giliran"))
        expect(page.locator("#import-progress")).to_be_visible()
        expect(page.locator("#no-worker")).to_be_visible()  # none runs beside this server
        page.screenshot(path=str(artifacts / f"admin-roster-import-{db}.png"), full_page=True)
        # No worker runs beside this live server: the job runs here, and the page's
        # script notices the end by itself and shows the report.
        work_jobs(settings.notify, redis_client)
        expect(page.locator("#import-result")).to_be_visible()
        expect(page.locator("#count-inserted")).to_have_text("10.000")
        expect(page.locator("#count-bad")).to_have_text("7")
        page.screenshot(path=str(artifacts / f"admin-roster-report-{db}.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
