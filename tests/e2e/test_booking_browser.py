"""Booking in Chromium at phone size: prove the NIK, pick a day, book, find it again, cancel
(asked first), and the same page in English."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.db import create_db_engine, session_factory
from scheduler.calendar import WorkingPlan
from scheduler.store import CapacityRule, regenerate_slots, save_calendar
from tests.support.browser import phone, screenshot
from tests.support.identity import latest_code
from tests.support.servers import LiveServer

pytestmark = pytest.mark.browser

NIK, NAME, PHONE = "3601284811855133", "Dian Suryana", "0895-7477-2415"


def open_three_days(database_url: str) -> list[str]:
    """Three days from tomorrow, 08:00-10:00 in Jakarta; the days as ISO dates."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Jakarta")
    now = dt.datetime.now(dt.UTC)
    first = dt.datetime.combine(now.astimezone(zone).date() + dt.timedelta(days=1), dt.time(0),
                                tzinfo=zone)
    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session, session.begin():
            save_calendar(session, "main", window_start=first,
                          window_end=first + dt.timedelta(days=3),
                          plan=WorkingPlan(tuple(((dt.time(8), dt.time(10)),) for _ in range(7))),
                          capacity=CapacityRule(4, 0.5, 30))
            regenerate_slots(session, "main", now)
    finally:
        engine.dispose()
    return [(first + dt.timedelta(days=n)).date().isoformat() for n in range(3)]


def find_again(page: Page, base_url: str) -> None:
    """Open the check page and find the booking with the proved NIK alone."""
    page.goto(base_url + "/booking/cek")
    page.fill("#f-nik", NIK)
    page.get_by_role("button", name="Lihat jadwal").click()


def slot_now(database_url: str, code: str) -> None:
    """Let the booking's slot begin five minutes ago, as if its time had come."""
    from sqlalchemy import select, update

    from scheduler.codes import parse_code
    from scheduler.models import Booking, Slot

    engine = create_db_engine(database_url)
    now = dt.datetime.now(dt.UTC)
    try:
        with session_factory(engine)() as session, session.begin():
            slot_id = session.scalars(select(Booking.slot_id).where(
                Booking.code == parse_code(code))).one()
            session.execute(update(Slot).where(Slot.id == slot_id).values(
                start=now - dt.timedelta(minutes=5), end=now + dt.timedelta(minutes=25)))
    finally:
        engine.dispose()


def test_book_on_a_picked_day_think_twice_about_cancelling_move_it_and_come_in_its_slot(
    browser: Browser, live_server_factory, sqlite_url: str, artifacts: Path
) -> None:
    server: LiveServer = live_server_factory(sqlite_url)
    days = open_three_days(sqlite_url)
    context, page, visits = phone(browser)
    try:
        page.goto(server.url + "/identitas?lanjut=/booking")
        page.fill("#f-nik", NIK)
        page.fill("#f-phone", PHONE)
        page.get_by_role("button", name="Kirim kode").click()
        code = latest_code(sqlite_url)
        assert code is not None
        page.fill("#f-code", code)
        page.get_by_role("button", name="Verifikasi").click()
        page.wait_for_url("**/booking")

        page.locator(f'#days a[href="/booking?hari={days[1]}"]').click()
        page.wait_for_url(f"**/booking?hari={days[1]}")
        expect(page.locator("#days a[aria-current]")).to_have_count(1)
        choices = page.locator('input[name="slot_id"]')
        expect(choices).to_have_count(4)  # 08.00 to 10.00 in half hours, all free
        screenshot(page, artifacts, "phone-booking-day-picked.png")
        choices.first.check()
        page.fill("#f-nik", NIK)
        page.fill("#f-name", NAME)
        page.fill("#f-phone", PHONE)
        page.get_by_role("button", name="Pesan jadwal").click()
        booked = page.locator("#booking-code")
        expect(booked).to_have_text(re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$"))
        expect(page.locator("main")).to_contain_text("08.00")
        expect(page.locator("main")).to_contain_text("WIB")

        # Lost the code: the proved NIK alone finds the booking again.
        booked_code = booked.inner_text()
        find_again(page, server.url)
        expect(page.locator("#booking-code")).to_have_text(booked_code)
        expect(page.locator("#door-opens")).to_contain_text("WIB")

        page.locator("#cancel").click()
        expect(page.locator("#confirm-cancel")).to_be_visible()
        screenshot(page, artifacts, "phone-booking-cancel-asks.png")
        page.locator("#cancel-no").click()
        expect(page.locator("#status")).to_have_text("Aktif")

        # Move it to another time, then come in that slot (made to start now).
        page.locator('input[name="slot_id"]').first.check()
        page.get_by_role("button", name="Pindahkan ke jadwal ini").click()
        expect(page.locator("#done")).to_contain_text("dipindahkan")
        slot_now(sqlite_url, booked_code)
        find_again(page, server.url)
        page.locator("#enter-slot").click()
        page.wait_for_url(re.compile(r".*/(antre|formulir)$"))
        screenshot(page, artifacts, "phone-booking-entered-in-slot.png")

        # A slot already begun cannot be cancelled: said plainly, and nothing changes.
        find_again(page, server.url)
        page.locator("#cancel").click()
        page.locator("#cancel-yes").click()
        expect(page.locator("#message")).to_contain_text("menit sebelum dimulai")
        expect(page.locator("#status")).to_have_text("Aktif")

        page.goto(server.url + "/booking?lang=en")
        expect(page.locator("#days")).to_contain_text("Pick a day")
        expect(page.locator("#f-time")).to_contain_text("Morning")
        screenshot(page, artifacts, "phone-booking-en.png")
    finally:
        context.close()
    assert visits.foreign(server.url) == []
