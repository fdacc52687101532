"""A new user's walk in Chromium at phone size: a second tap, notify-me without JavaScript,
moving to a second device, the receipt on another phone, English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import ApiVisitor, phone, screenshot, take_a_number
from tests.support.identity import latest_code
from tests.support.servers import LiveServer

pytestmark = pytest.mark.browser

OWNER_EMAIL = "dian@example.id"


def move_code(database_url: str) -> str:
    """The code the move sent to the place's contact (read where the notifier sends it)."""
    from sqlalchemy import select

    from portal.db import create_db_engine, session_factory
    from portal.notify.models import Notification

    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session:
            record = session.scalars(select(Notification).where(
                Notification.purpose == "move_code").order_by(Notification.id.desc())).first()
            assert record is not None and record.address == OWNER_EMAIL
            return str(record.context["otp"])
    finally:
        engine.dispose()


def test_second_tap_notify_me_without_javascript_and_a_second_device(
    browser: Browser, live_server_factory, sqlite_url: str, artifacts: Path
) -> None:
    server: LiveServer = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1")
    holder = ApiVisitor(server.url)
    holder.take_the_place()
    context, page, visits = phone(browser, java_script_enabled=False)
    second_context, second, _second_visits = phone(browser)
    try:
        take_a_number(page, server.url)
        page.wait_for_url("**/antre")
        number = page.locator("#queue-number strong").inner_text()
        # Back to the landing page, as people do: it says they have a number already,
        # and its button brings them back to the same one.
        page.go_back()
        page.reload()
        expect(page.locator("#own-place")).to_contain_text(number)
        screenshot(page, artifacts, "phone-landing-own-number.png")
        page.get_by_role("button", name="Lihat posisi saya").click()
        page.wait_for_url("**/antre")
        expect(page.locator("#queue-number strong")).to_have_text(number)

        # "Notify me" without JavaScript: the answer is a page that reloads itself safely.
        page.fill("#n-email", OWNER_EMAIL)
        page.get_by_role("button", name="Kabari saya").click()
        page.wait_for_url("**/antre?kabari=1")
        expect(page.locator("#notice-saved")).to_be_visible()
        page.reload()
        expect(page.locator("#notice-saved")).to_be_visible()
        screenshot(page, artifacts, "phone-nojs-notify-me.png")

        # The person picks up a second phone and moves the place there.
        second.goto(server.url + "/")
        second.get_by_role("link", name="Pindahkan nomor antrean dari perangkat lain").click()
        second.fill("#f-nomor", number)
        second.get_by_role("button", name="Kirim kode").click()
        expect(second.locator("#message")).to_contain_text("Jika nomor antrean ini")
        second.fill("#f-code", move_code(sqlite_url))
        second.get_by_role("button", name="Pindahkan ke perangkat ini").click()
        second.wait_for_url("**/antre?pindah=1")
        expect(second.locator("#moved-here")).to_be_visible()
        expect(second.locator("#queue-number strong")).to_have_text(number)
        screenshot(second, artifacts, "phone-moved-here.png")

        holder.leave()  # the place opens: the second phone enters by itself
        second.wait_for_url("**/formulir")
        # The first phone's page says where the session is; it holds no session itself.
        page.goto(server.url + "/antre")
        running = page.get_by_role("heading", name="Sesi formulir Anda sedang berjalan")
        expect(running).to_be_visible()
        page.goto(server.url + "/formulir")
        over = page.get_by_role("heading", name="Sesi formulir Anda sudah berakhir")
        expect(over).to_be_visible()
    finally:
        context.close()
        second_context.close()
        holder.close()
    assert visits.foreign(server.url) == []


def test_english_pages_and_the_doors_of_the_landing_page(
    browser: Browser, live_server_factory, sqlite_url: str, artifacts: Path
) -> None:
    server: LiveServer = live_server_factory(sqlite_url)
    context, page, _visits = phone(browser)
    try:
        page.goto(server.url + "/?lang=en")
        doors = page.locator("#doors a")
        expect(doors).to_have_count(6)
        screenshot(page, artifacts, "phone-en-landing.png")
        page.get_by_role("link", name="Open the registration receipt").click()
        expect(page.get_by_role("heading", name="Open the registration receipt")).to_be_visible()
        page.fill("#f-nik", "3601")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#e-nik")).to_have_text(
            "A NIK has 16 digits (4 characters were typed).")
        screenshot(page, artifacts, "phone-en-receipt-nik-error.png")
        # Nothing personal ever went into an address.
        assert not re.search(r"\d{16}", page.url)
        assert latest_code(sqlite_url) is None
    finally:
        context.close()


def test_before_opening_and_at_the_front_of_the_line(
    browser: Browser, live_server_factory, sqlite_url: str, redis_client, artifacts: Path
) -> None:
    import time

    from waitroom.keys import RoomKeys

    server: LiveServer = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1")
    config = RoomKeys().key("config")  # the portal's default prefix and room
    redis_client.hset(config, "opens_at", int(time.time()) + 3600)
    time.sleep(1.2)  # every process re-reads the live settings within a second
    context, page, _visits = phone(browser)
    holder = ApiVisitor(server.url)
    try:
        page.goto(server.url + "/")
        # Not open yet: when it opens, in the zone, labelled, and no estimate for it.
        expect(page.locator("#opens")).to_contain_text("WIB")
        expect(page.locator("#eta")).to_have_count(0)
        screenshot(page, artifacts, "phone-before-opening.png")

        redis_client.hdel(config, "opens_at")
        time.sleep(1.2)  # every process re-reads the live settings within a second
        holder.take_the_place()
        take_a_number(page, server.url)
        page.wait_for_url("**/antre")
        expect(page.locator("#position")).to_have_text("1")
        # Changes are announced to screen readers, politely.
        expect(page.locator("#standing")).to_have_attribute("aria-live", "polite")
        # First in line is the start of the way, not a full bar.
        expect(page.locator("#bar")).to_have_attribute("style", re.compile(r"width"))
        width = page.eval_on_selector("#bar", "e => parseFloat(e.style.width)")
        assert width < 10, width
        screenshot(page, artifacts, "phone-first-in-line.png")
    finally:
        holder.close()
        context.close()
