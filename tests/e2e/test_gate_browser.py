"""A browser past its address's bucket: it solves the proof itself, or takes the slow lane."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import WAIT_MS, phone, take_a_number

pytestmark = pytest.mark.browser

# A bucket of one join: the test's own API join empties it, so the browser is past it.
GATED = {"ANTREAN_JOIN_BURST": "1", "ANTREAN_JOIN_RATE_PER_MINUTE": "1",
         "ANTREAN_MAX_ACTIVE": "1000"}


def _empty_the_bucket(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        assert client.post("/api/v1/queue/join").status_code == 201


def test_a_browser_over_the_bucket_solves_the_proof_and_gets_a_place(
        browser: Browser, live_server_factory, sqlite_url: str) -> None:
    server = live_server_factory(sqlite_url, **GATED)
    _empty_the_bucket(server.url)
    context, page, visits = phone(browser)
    try:
        answers: list[int] = []
        page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/antre")
                and r.request.method == "POST" else None)
        take_a_number(page, server.url)
        # the proof page solves the challenge and sends the join again by itself
        page.wait_for_url("**/formulir", timeout=WAIT_MS * 4)
        assert answers[:1] == [429] and 303 in answers
    finally:
        context.close()
    assert visits.foreign(server.url) == []


def test_a_browser_without_javascript_gets_a_place_through_the_slow_lane(
        browser: Browser, live_server_factory, sqlite_url: str) -> None:
    server = live_server_factory(sqlite_url, **GATED)
    _empty_the_bucket(server.url)
    context, page, _visits = phone(browser, java_script_enabled=False)
    try:
        take_a_number(page, server.url)
        # the page's noscript refresh leads to the lane, whose refresh joins when due
        page.wait_for_url("**/antre/giliran")
        expect(page.get_by_role("heading", name="Menunggu giliran mengambil nomor antrean")) \
            .to_be_visible()
        page.wait_for_url("**/antre", timeout=40_000)
        expect(page.get_by_role("heading", name="Giliran Anda tiba!")).to_be_visible()
    finally:
        context.close()
