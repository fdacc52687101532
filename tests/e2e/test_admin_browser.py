"""The console in a real browser (Debian's Chromium): log in, change the cap, look around."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, FilePayload, FloatRect, Page, expect

from portal.settings import Settings
from tests.support.admin import PASSWORD, add_user, generated_roster, insert_submissions
from tests.support.browser import log_in_to_console
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
        log_in_to_console(page, server.url, "budi", PASSWORD)
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


def nav_boxes(page: Page) -> list[FloatRect]:
    links = page.locator(".admin-bar nav a")
    expect(links.first).to_be_visible()
    return [box for box in (links.nth(i).bounding_box() for i in range(links.count()))
            if box is not None]


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_console_menu_fits_one_line_on_a_laptop_and_stays_usable_on_a_phone(
    browser: Browser, settings: Settings, live_server_factory, database_url: str,  # noqa: F811
    artifacts: Path, lang: str,
) -> None:
    add_user(settings, "administrator-bkd", "admin")  # a long name beside the menu
    server = live_server_factory(database_url)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="id-ID")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(server.url + f"/admin/masuk?lang={lang}")
        page.locator("#f-username").fill("administrator-bkd")
        page.locator("#f-password").fill(PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(server.url + "/admin")
        for path in ("/admin", "/admin/audit"):  # the current page's link is bold
            page.goto(server.url + path)
            boxes = nav_boxes(page)
            assert len(boxes) == 11  # an admin sees every page
            tops = {round(box["y"]) for box in boxes}
            assert len(tops) == 1, (lang, path, sorted(tops))
            assert max(box["x"] + box["width"] for box in boxes) <= 1366
        page.screenshot(path=str(artifacts / f"admin-menu-1366-{lang}.png"))

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(server.url + "/admin")
        boxes = nav_boxes(page)
        assert all(box["x"] >= 0 and box["x"] + box["width"] <= 390 for box in boxes)
        assert all(box["height"] >= 24 for box in boxes)  # big enough to tap
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.locator(".admin-bar nav a", has_text="Log audit" if lang == "id"
                     else "Audit log").click()
        page.wait_for_url(server.url + "/admin/audit")
        # Wide tables scroll inside their card; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts / f"admin-menu-phone-{lang}.png"))
    finally:
        context.close()


def test_the_dashboard_draws_times_in_the_registrations_zone_not_the_browsers(
    browser: Browser, settings: Settings, live_server_factory, database_url: str,  # noqa: F811
) -> None:
    add_user(settings, "ani", "admin")
    server = live_server_factory(database_url, ANTREAN_TIMEZONE="Asia/Makassar")
    # An operator's laptop set to another zone (a travelling official, a wrong setting).
    context = browser.new_context(**LAPTOP, timezone_id="America/New_York")  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in_to_console(page, server.url, "ani", PASSWORD)
        expect(page.locator("#live-state")).to_have_text(re.compile(r"^\d{2}[.:]\d{2}.* WITA$"))
        shown = page.locator("#live-state").inner_text()
        local = page.evaluate("new Intl.DateTimeFormat('id', {hour: '2-digit', minute: "
                              "'2-digit', hour12: false, timeZone: 'Asia/Makassar'})"
                              ".format(new Date())")
        assert shown.startswith(local[:2]), (shown, local)  # the hour of Makassar, not New York
        expect(page.locator("#chart-queue .uplot")).to_be_visible()
        legend = page.locator("#chart-queue .u-legend").inner_text()
        assert "(WITA)" in legend, legend
    finally:
        context.close()
