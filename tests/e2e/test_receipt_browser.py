"""The receipt in Chromium: readable on a phone, one A4 page when printed, a PDF to
download, and a QR code another device opens to check it; all of it without JavaScript."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import (
    FIRST,
    expect_receipt,
    fill_form,
    phone,
    prove_in_page,
    screenshot,
    submit_form,
    take_a_number,
)

pytestmark = pytest.mark.browser


def test_a_receipt_to_print_download_and_check_on_another_device(
    browser: Browser, live_server_factory, sqlite_url: str, artifacts: Path
) -> None:
    server = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1",
                                 ANTREAN_AGENCY_NAME="Badan Kepegawaian Daerah Provinsi Banten",
                                 ANTREAN_HELPDESK_PHONE="0254 200 123")
    context, page, visits = phone(browser)
    try:
        take_a_number(page, server.url)
        page.wait_for_url("**/formulir")
        prove_in_page(page, server.url, sqlite_url, FIRST)
        fill_form(page, FIRST)
        submit_form(page)
        number = expect_receipt(page, FIRST)
        code = page.locator("#seal-code").inner_text()
        expect(page.locator("#received")).to_contain_text("WIB")
        qr = page.locator(".seal .qr svg").bounding_box()
        assert qr and qr["width"] >= 120  # big enough to scan from a phone screen
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing wider than the phone
        screenshot(page, artifacts, "receipt-phone.png")

        with page.expect_download() as download:
            page.locator("#pdf").click()
        pdf = Path(download.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages
                             ).split())
        assert number in text and code in text

        # Printed: the site's bar and buttons go, the letterhead stays, one A4 page.
        page.emulate_media(media="print")
        expect(page.locator("body > header")).to_be_hidden()
        expect(page.locator("#pdf")).to_be_hidden()
        expect(page.locator(".letterhead")).to_be_visible()
        printed = pypdf.PdfReader(io.BytesIO(page.pdf(format="A4", print_background=True)))
        (artifacts / "receipt-print.pdf").write_bytes(page.pdf(format="A4"))
        assert len(printed.pages) == 1, len(printed.pages)
        verify = page.locator(".seal p.muted").inner_text()
        assert "/cek-bukti" in verify
    finally:
        context.close()
    assert visits.foreign(server.url) == []

    # Another device, without JavaScript, types what is printed on the paper.
    other, official, _ = phone(browser, java_script_enabled=False)
    try:
        official.goto(server.url + "/cek-bukti")
        official.fill("#n", number.lower())
        official.fill("#k", code.replace("-", " "))
        official.get_by_role("button", name="Periksa").click()
        expect(official.get_by_role("heading", name="✓ Bukti ini sah")).to_be_visible()
        expect(official.locator("#receipt-name")).to_have_text(FIRST["nama"])
        screenshot(official, artifacts, "receipt-verified.png")
        forged = code[:-1] + ("Z" if code[-1] != "Z" else "Y")
        official.goto(server.url + f"/cek-bukti?n={number}&k={forged}")
        expect(official.locator("#mismatch")).to_be_visible()
    finally:
        other.close()
