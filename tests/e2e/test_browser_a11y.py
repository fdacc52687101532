"""Accessibility: axe-core (vendored from the npm registry) finds nothing serious on any page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.support import VENDOR
from tests.support.browser import (
    FIRST,
    ApiVisitor,
    fill_form,
    phone,
    prove_in_page,
    submit_form,
    take_a_number,
)

pytestmark = pytest.mark.browser

AXE = VENDOR / "axe-core" / "axe.min.js"


def serious_violations(page: Page) -> list[str]:
    """Run axe-core on the page; return 'rule: target' for each serious or critical finding."""
    page.evaluate(AXE.read_text())  # evaluated through the devtools protocol, not the page CSP
    result = page.evaluate("async () => await axe.run(document)")
    assert result["passes"], "axe-core checked nothing"
    return [
        f"{violation['id']}: {node['target']}"
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
        for node in violation["nodes"]
    ]


def test_no_serious_accessibility_violation_on_the_visitor_pages(
    browser: Browser, live_server_factory, sqlite_url: str  # noqa: F811
) -> None:
    server = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1")
    holder = ApiVisitor(server.url)
    holder.take_the_place()
    context, page, _visits = phone(browser)
    found: dict[str, list[str]] = {}
    try:
        page.goto(server.url + "/")
        found["landing"] = serious_violations(page)
        take_a_number(page, server.url)
        page.wait_for_url("**/antre")
        found["waiting"] = serious_violations(page)
        holder.leave()  # frees the place: the waiting page moves on by itself
        page.wait_for_url("**/formulir", timeout=15_000)
        found["form"] = serious_violations(page)
        page.fill("#f-nik", "12345")
        submit_form(page)
        page.wait_for_selector("#e-nik")
        found["form with errors"] = serious_violations(page)
        prove_in_page(page, server.url, sqlite_url, FIRST)
        fill_form(page, FIRST)
        submit_form(page)
        page.wait_for_url("**/kwitansi")
        found["receipt"] = serious_violations(page)
        page.goto(server.url + "/booking")
        found["booking"] = serious_violations(page)
        page.goto(server.url + "/booking/cek")
        found["booking check"] = serious_violations(page)
    finally:
        context.close()
        holder.close()
    assert {name: v for name, v in found.items() if v} == {}
