"""The planner's chart in Chromium: axes from zero, the deadline and the finish marked."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from portal.settings import Settings
from tests.support.admin import PASSWORD, add_user
from tests.support.browser import log_in_to_console

pytestmark = pytest.mark.browser


def test_the_planner_chart_starts_at_zero_and_marks_the_deadline(
    browser: Browser, settings: Settings, live_server_factory, database_url: str,
    artifacts: Path,
) -> None:
    add_user(settings, "ani", "admin")
    server = live_server_factory(database_url)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID",
                                  timezone_id="America/Los_Angeles")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        log_in_to_console(page, server.url, "ani", PASSWORD, "/admin/perencana")
        page.goto(server.url + "/admin/perencana?roster_size=120000&through=20000"
                  "&start=2026-08-01&deadline=2026-08-31&cap=100&session_minutes=20"
                  "&hours_per_day=10&utilisation=1&holiday_weight=1.5")
        expect(page.locator("#chart-plan .uplot")).to_be_visible()
        scales = page.evaluate("""() => {
            const u = document.getElementById('chart-plan').antreanChart;
            return {y: [u.scales.y.min, u.scales.y.max], y2: [u.scales.y2.min, u.scales.y2.max]};
        }""")
        assert scales["y"][0] == 0 and scales["y2"][0] == 0, scales
        marks = page.evaluate(
            "() => document.getElementById('chart-plan').antreanMarks.map(m => m.label)")
        assert marks[0] == "Tenggat 31 Agustus 2026" and marks[1].startswith("Selesai "), marks
        # The deadline's mark stands on the tick of its own day, whatever the browser's zone.
        tick = page.evaluate("""() => {
            const el = document.getElementById('chart-plan'), u = el.antreanChart;
            return new Intl.DateTimeFormat('id', {day: 'numeric', month: 'short',
                timeZone: 'Asia/Jakarta'}).format(new Date(el.antreanMarks[0].x * 1000));
        }""")
        assert tick == "31 Agu", tick
        expect(page.locator("#verdict")).to_contain_text("sesudah tenggat 31 Agustus 2026")
        expect(page.locator("#with-cap")).to_be_visible()
        page.screenshot(path=str(artifacts / "admin-planner-marks.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
