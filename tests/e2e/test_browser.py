"""The visitor's path in a real browser: Debian's Chromium on a phone-sized screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from tests.support.browser import (
    FIRST,
    SECOND,
    ApiVisitor,
    expect_receipt,
    fill_form,
    phone,
    prove_in_page,
    screenshot,
    submit_form,
    take_a_number,
)

pytestmark = pytest.mark.browser


def test_waiting_visitor_moves_on_to_the_form_and_the_receipt(
    browser: Browser, live_server_factory, database_url: str, artifacts: Path
) -> None:
    server = live_server_factory(database_url, ANTREAN_MAX_ACTIVE="1")
    db = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    first_context, first, first_visits = phone(browser)
    second_context, second, second_visits = phone(browser)
    try:
        # the first visitor walks straight in: the waiting page claims the place itself
        take_a_number(first, server.url)
        first.wait_for_url("**/formulir")

        take_a_number(second, server.url)
        second.wait_for_url("**/antre")
        expect(second.get_by_role("heading", name="Anda dalam antrean")).to_be_visible()
        expect(second.locator("#position")).to_have_text("1")
        screenshot(second, artifacts, f"phone-{db}-1-waiting.png")

        prove_in_page(first, server.url, database_url, FIRST)
        fill_form(first, FIRST)
        submit_form(first)
        expect_receipt(first, FIRST)

        # no click: the page's polling notices the free place and enters the form
        second.wait_for_url("**/formulir")
        expect(second.get_by_role("heading", name="Formulir pendaftaran")).to_be_visible()
        fill_form(second, {**SECOND, "nik": "12345"})
        submit_form(second)
        error = second.locator("#e-nik")
        expect(error).to_contain_text("NIK harus 16 digit angka")
        expect(second.locator("#f-nik")).to_have_attribute("aria-invalid", "true")
        expect(second.locator("#f-nik")).to_have_value("12345")
        for name, value in SECOND.items():
            if name != "nik":
                expect(second.locator(f"#f-{name}")).to_have_value(value)
        # the PDFs were taken with the first attempt and need no second upload
        expect(second.locator("#have-berkas_sk")).to_contain_text("Sudah diunggah")
        expect(second.get_by_role("alert")).to_contain_text("perlu diperbaiki")
        screenshot(second, artifacts, f"phone-{db}-2-form-with-error.png")

        # Told to verify the NIK first; the form keeps everything while that is done.
        prove_in_page(second, server.url, database_url, SECOND)
        second.fill("#f-nik", SECOND["nik"])
        submit_form(second)
        number = expect_receipt(second, SECOND)
        screenshot(second, artifacts, f"phone-{db}-3-receipt.png")
        first_number = first.locator("#registration-number").inner_text()
        assert number != first_number
    finally:
        first_context.close()
        second_context.close()
    assert first_visits.foreign(server.url) == []
    assert second_visits.foreign(server.url) == []


def test_waiting_page_works_without_javascript(
    browser: Browser, live_server_factory, sqlite_url: str, artifacts: Path
) -> None:
    server = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1")
    holder = ApiVisitor(server.url)
    holder.take_the_place()
    context, page, visits = phone(browser, java_script_enabled=False)
    try:
        take_a_number(page, server.url)
        page.wait_for_url("**/antre")
        expect(page.get_by_role("heading", name="Anda dalam antrean")).to_be_visible()
        expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)
        # the page asks again by itself, while still waiting
        with page.expect_response(lambda r: urlsplit(r.url).path == "/antre"
                                  and r.request.method == "GET"):
            pass
        expect(page.locator("#position")).to_have_text("1")

        holder.leave()
        enter = page.get_by_role("button", name="Masuk ke formulir")
        expect(enter).to_be_visible()
        screenshot(page, artifacts, "phone-nojs-admitted.png")
        enter.click()
        page.wait_for_url("**/formulir")
        prove_in_page(page, server.url, sqlite_url, SECOND)
        fill_form(page, SECOND, javascript=False)
        submit_form(page)
        expect_receipt(page, SECOND)
    finally:
        context.close()
        holder.close()
    assert visits.foreign(server.url) == []


class Weights(TypedDict):
    requests: list[str]
    body_bytes: int
    transferred_bytes: int


class PageWeight:
    """Bytes a page load costs: response bodies, and bodies plus headers on the wire."""

    def __init__(self, page: Page) -> None:
        self.requests: list[Request] = []
        page.on("requestfinished", lambda request: self.requests.append(request))

    def measure(self, path_prefix: str = "/") -> Weights:
        body = wire = 0
        urls = []
        for request in self.requests:
            if not urlsplit(request.url).path.startswith(path_prefix):
                continue
            sizes = request.sizes()
            body += sizes["responseBodySize"]
            wire += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            urls.append(f"{request.method} {urlsplit(request.url).path}")
        self.requests.clear()
        return {"requests": urls, "body_bytes": body, "transferred_bytes": wire}


def test_pages_are_light_for_slow_mobile_data(
    browser: Browser, live_server_factory, sqlite_url: str, artifacts: Path
) -> None:
    server = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1")
    holder = ApiVisitor(server.url)
    holder.take_the_place()
    context, page, visits = phone(browser)
    weights: dict[str, Weights] = {}
    try:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        weight = PageWeight(page)

        page.goto(server.url + "/", wait_until="load")
        weights["landing"] = weight.measure()

        # the waiting page as the visitor gets it: the join POST, its redirect, the page
        page.get_by_role("button", name="Ambil nomor antrean sekarang").click()
        page.wait_for_url("**/antre", wait_until="load")
        expect(page.locator("#position")).to_have_text("1")
        weights["waiting"] = weight.measure()

        with page.expect_response(lambda r: "/api/v1/queue/" in r.url) as poll:
            pass
        poll.value.finished()
        weights["status_poll"] = weight.measure("/api/v1/queue/")

        holder.leave()
        page.wait_for_url("**/formulir", wait_until="load")
        weight.measure()  # the hop from waiting to the form, not a page of its own
        page.reload(wait_until="load")
        expect(page.get_by_role("heading", name="Formulir pendaftaran")).to_be_visible()
        weights["form"] = weight.measure()
    finally:
        context.close()
        holder.close()

    (artifacts / "page-weights.json").write_text(json.dumps(weights, indent=2) + "\n")
    for name, figures in weights.items():
        print(f"\n{name}: {figures['transferred_bytes']} bytes transferred "
              f"({figures['body_bytes']} in bodies) by {', '.join(figures['requests'])}")
    assert weights["waiting"]["transferred_bytes"] <= 30 * 1024
    assert weights["form"]["transferred_bytes"] <= 100 * 1024
    assert visits.foreign(server.url) == []


def test_waiting_page_with_javascript_polls_instead_of_reloading(
    browser: Browser, live_server_factory, sqlite_url: str
) -> None:
    server = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1")
    holder = ApiVisitor(server.url)
    holder.take_the_place()
    context, page, _visits = phone(browser)
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url) if r.resource_type == "document" else None)
    try:
        take_a_number(page, server.url)
        page.wait_for_url("**/antre")
        with page.expect_response(lambda r: "/api/v1/queue/" in r.url):
            pass
        page.wait_for_timeout(3000)  # longer than the page's own refresh interval
    finally:
        context.close()
        holder.close()
    # the landing page, the join POST and its redirect: nothing after that but polls
    assert [urlsplit(url).path for url in loads] == ["/", "/antre", "/antre"]


def test_receipt_values_are_readable_on_a_phone(
    browser: Browser, live_server_factory, sqlite_url: str
) -> None:
    server = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1")
    context, page, _visits = phone(browser)
    try:
        take_a_number(page, server.url)
        page.wait_for_url("**/formulir")
        prove_in_page(page, server.url, sqlite_url, FIRST)
        fill_form(page, FIRST)
        submit_form(page)
        expect_receipt(page, FIRST)
        widths = page.eval_on_selector_all(
            "main dd", "els => els.map(e => e.getBoundingClientRect().width)")
    finally:
        context.close()
    assert widths and min(widths) >= 120, widths  # CSS px, of a 390 px wide screen


def open_the_form(browser: Browser, live_server_factory, database_url: str
                  ) -> tuple[str, BrowserContext, Page]:
    """A lone visitor on a server with one place: straight into the form."""
    server = live_server_factory(database_url, ANTREAN_MAX_ACTIVE="1")
    context, page, _visits = phone(browser)
    take_a_number(page, server.url)
    page.wait_for_url("**/formulir")
    return server.url, context, page


def test_a_session_that_ends_mid_form_keeps_the_draft_for_the_next_turn(
    browser: Browser, live_server_factory, sqlite_url: str, artifacts: Path
) -> None:
    url, context, page = open_the_form(browser, live_server_factory, sqlite_url)
    try:
        for name in ("nik", "nama", "tempat_lahir"):
            page.fill(f"#f-{name}", FIRST[name])
        expect(page.locator("#saved")).to_have_text("Tersimpan.")
        # the place lapses while the visitor looks away, as an idle timeout ends it
        # (which leaves the browser's cookies as they are)
        cookies = context.cookies()
        ended = page.request.post(url + "/api/v1/session/finish")
        assert ended.json() == {"finished": True}
        context.add_cookies(cookies)  # type: ignore[arg-type]
        page.fill("#f-jabatan", FIRST["jabatan"])  # typed after the end: saved all the same
        expect(page.locator("#session-ended")).to_be_visible()
        screenshot(page, artifacts, "phone-session-ended.png")
        page.get_by_role("link", name="Antre lagi").first.click()
        take_a_number(page, url)
        page.wait_for_url("**/formulir")
        for name in ("nik", "nama", "tempat_lahir", "jabatan"):
            expect(page.locator(f"#f-{name}")).to_have_value(FIRST[name])
    finally:
        context.close()


def test_every_validation_message_and_a_double_click_give_one_record(
    browser: Browser, live_server_factory, database_url: str, artifacts: Path
) -> None:
    from sqlalchemy import create_engine, func, select

    from portal.form.models import Submission

    _url, context, page = open_the_form(browser, live_server_factory, database_url)
    try:
        submit_form(page)  # nothing filled in
        page.wait_for_selector("#form-errors")
        required = page.eval_on_selector_all(
            "#reg-form [required], #reg-form input[type=file]", "els => els.map(e => e.name)")
        shown = page.eval_on_selector_all(".error[id^=e-]", "els => els.map(e => e.id.slice(2))")
        assert required and set(required) <= set(shown), (required, shown)
        for name in required:  # each message is tied to its field
            expect(page.locator(f"#reg-form [name={name}]")).to_have_attribute(
                "aria-describedby", f"e-{name}")
        screenshot(page, artifacts, "phone-every-validation-message.png")
        prove_in_page(page, _url, database_url, FIRST)
        fill_form(page, FIRST)
        page.get_by_role("button", name="Kirim pendaftaran").dblclick()
        expect_receipt(page, FIRST)
    finally:
        context.close()
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        records = connection.execute(select(func.count()).select_from(Submission)).scalar_one()
    engine.dispose()
    assert records == 1
