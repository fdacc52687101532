"""A page far back in Chromium: it follows the shared board, works out its own place and
wait from it as the room would, and asks for its own place again once the front nears.

The page's timers run on Playwright's clock, so a minute of waiting takes a moment.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect
from redis.asyncio import Redis

from tests.support.browser import ApiVisitor, phone, take_a_number
from tests.support.servers import LiveServer
from waitroom.board import NEAR_MIN, Board, near_positions
from waitroom.keys import RoomKeys
from waitroom.prequeue import SEED_PREFIX, Draw
from waitroom.room import WaitingRoom

pytestmark = pytest.mark.browser

CROWD = NEAR_MIN + 100


def minutes_text(wait: tuple[int, int] | None) -> str:
    """What waiting.js writes for a wait range (Indonesian digits need no grouping here)."""
    assert wait is not None
    if wait[1] < 60:
        return "kurang dari 1 menit"
    return f"{math.floor(wait[0] / 60):,}–{math.ceil(wait[1] / 60):,} menit".replace(",", ".")


def in_room(redis_url: str, work: str) -> None:
    """Change the room as another process would (Playwright's loop holds this thread)."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _in_room(redis_url, work)).result()


async def _in_room(redis_url: str, work: str) -> None:
    client = Redis.from_url(redis_url)
    room = WaitingRoom(client, RoomKeys("antrean", "main"))
    try:
        if work == "crowd":
            for _ in range(CROWD):
                await room.join([secrets.token_hex(8)])
        elif work == "cap":
            await room.update_config(max_active=31)  # 30 more places: the queue moves
        else:
            await room.update_config(admit_per_minute=120_000)  # the front is far now
    finally:
        await client.aclose()


def open_with_a_draw_far_back(redis_url: str, number: int) -> tuple[str, int]:
    """Open the queue and draw its pre-queue with a seed that puts ``number`` far back,
    as the room's own draw might (the seed, and the last number drawn)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, _open_with_a_draw_far_back(redis_url, number)).result()


async def _open_with_a_draw_far_back(redis_url: str, number: int) -> tuple[str, int]:
    client = Redis.from_url(redis_url)
    room = WaitingRoom(client, RoomKeys("antrean", "main"))
    try:
        last = int(await client.hget(room.keys.key("stats"), "prequeue_last") or 0)
        seed = next(seed for seed in (f"{SEED_PREFIX}test-{i}" for i in range(100_000))
                    if Draw(seed, last).rank(number) > NEAR_MIN + 50)
        await room.update_config(opens_at=int(time.time()))
        assert await room.seal_prequeue(seed)
        return seed, last
    finally:
        await client.aclose()


def board_of(body: dict) -> Board:
    """The board a page read, as waitroom.board has it."""
    return Board(as_of_ms=body["as_of_ms"], head=body["head"], returning=body["returning"],
                 order_left=body["order_left"], sealed=body["sealed"], near=body["near"],
                 knots=tuple(tuple(k) for k in body["knots"]), seed=body["seed"])


def waiting_page(browser: Browser, url: str) -> tuple[BrowserContext, Page, list[str], dict]:
    """A phone that took a number and got its first own answer: its context, its page,
    the queue requests it made so far ("own" or "board") and that answer. The page's
    timers run on Playwright's clock."""
    context, page, _visits = phone(browser)
    asked: list[str] = []

    def seen(request: Request) -> None:
        if "/api/v1/queue/" in request.url:
            asked.append("board" if request.url.endswith("/board") else "own")

    page.on("request", seen)
    page.clock.install()
    take_a_number(page, url)
    page.wait_for_url("**/antre")
    with page.expect_response(lambda r: "/api/v1/queue/" in r.url) as first:
        page.clock.run_for(6_000)
    return context, page, asked, first.value.json()


def test_a_page_far_back_follows_the_board_and_asks_again_near_the_front(
        browser: Browser, live_server_factory, sqlite_url: str, redis_url: str) -> None:
    server: LiveServer = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1",
                                             ANTREAN_ADMIT_PER_MINUTE="600")
    holder = ApiVisitor(server.url)
    holder.take_the_place()
    in_room(redis_url, "crowd")
    context, page, asked, own = waiting_page(browser, server.url)
    try:
        assert own["follow"]["rank"] == 0 and own["position"] > NEAR_MIN
        number = own["follow"]["number"]

        # The queue moves: 30 more places. The page sees it on the board alone.
        in_room(redis_url, "cap")
        page.wait_for_timeout(1500)  # the server admits them and reads a new snapshot
        with page.expect_response(lambda r: r.url.endswith("/board")) as looked:
            page.clock.run_for(60_000)
        board = board_of(looked.value.json())
        position = board.position(number)
        assert position is not None and position == own["position"] - 30
        expect(page.locator("#position")).to_have_text(f"{position:,}".replace(",", "."))
        expect(page.locator("#eta")).to_have_text(minutes_text(board.estimate(position)))
        assert asked.count("own") == 1  # one poll of its own, at the start

        # The room speeds up: the front is within two minutes of admissions. The next
        # look at the board sends the page back to asking for its own place.
        in_room(redis_url, "speed")
        page.wait_for_timeout(1500)
        with page.expect_response(lambda r: "/api/v1/queue/" in r.url
                                  and not r.url.endswith("/board")) as again:
            page.clock.run_for(60_000)
        mine = again.value.json()
        assert mine["state"] == "waiting" and "follow" not in mine
        assert mine["position"] <= position < near_positions(1, 120_000)
        assert asked.count("own") == 2
    finally:
        context.close()
        holder.close()


def test_a_page_before_the_draw_follows_the_board_then_asks_once_for_its_rank(
        browser: Browser, live_server_factory, sqlite_url: str) -> None:
    token = "operator-token-for-the-draw-follow-test"
    server: LiveServer = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1",
                                             ANTREAN_ADMIN_TOKEN=token)

    def opens(at: int) -> None:
        changed = httpx.patch(f"{server.url}/api/v1/admin/settings", json={"opens_at": at},
                              headers={"Authorization": f"Bearer {token}"})
        assert changed.status_code == 200, changed.text

    holder = ApiVisitor(server.url)
    holder.take_the_place()  # the only place, held through the draw
    opens(int(time.time()) + 3600)
    context, page, asked, own = waiting_page(browser, server.url)
    try:
        assert own["awaiting_draw"] is True and own["follow"]["rank"] == 0
        # Two minutes before the draw: the board alone, which says the order is not drawn.
        with page.expect_response(lambda r: r.url.endswith("/board")) as looked:
            page.clock.run_for(60_000)
        assert looked.value.json()["sealed"] == -1
        page.clock.run_for(60_000)
        assert asked.count("own") == 1 and asked.count("board") >= 2
        expect(page.locator("#draw-note")).to_be_visible()

        # The queue opens and the order is drawn: the next look at the board sends the
        # page to ask once for its place, which it then shows.
        opens(int(time.time()) + 1)
        page.wait_for_timeout(3000)  # the server seals the order and reads a new snapshot
        with page.expect_response(lambda r: "/api/v1/queue/" in r.url
                                  and not r.url.endswith("/board")) as again:
            page.clock.run_for(60_000)
        mine = again.value.json()
        assert mine["state"] == "waiting" and mine["awaiting_draw"] is False
        # The draw orders every number up to the last one before opening, the holder's
        # too: until the walk passes it, it may count as one ahead.
        assert mine["position"] in (1, 2) and "follow" not in mine  # near the front
        assert asked.count("own") == 2
        expect(page.locator("#position")).to_have_text(str(mine["position"]))
        expect(page.locator("#draw-note")).to_be_hidden()
    finally:
        context.close()
        holder.close()


def test_a_page_far_back_in_the_prequeue_works_its_rank_out_from_the_published_seed(
        browser: Browser, live_server_factory, sqlite_url: str, redis_url: str) -> None:
    # The test draws the order itself (no ticker), with a seed that puts the page far back.
    token = "operator-token-for-the-far-draw-test"
    server: LiveServer = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="1",
                                             ANTREAN_ADMIN_TOKEN=token, ANTREAN_TICKER="0")
    holder = ApiVisitor(server.url)
    holder.take_the_place()
    changed = httpx.patch(f"{server.url}/api/v1/admin/settings",
                          json={"opens_at": int(time.time()) + 3600},
                          headers={"Authorization": f"Bearer {token}"})
    assert changed.status_code == 200, changed.text
    context, page, asked, own = waiting_page(browser, server.url)
    try:
        assert own["awaiting_draw"] is True and own["follow"]["rank"] == 0
        number = own["follow"]["number"]
        in_room(redis_url, "crowd")  # they too wait for the draw
        seed, last = open_with_a_draw_far_back(redis_url, number)
        page.wait_for_timeout(1500)  # the server reads a new snapshot
        with page.expect_response(lambda r: r.url.endswith("/board")) as looked:
            page.clock.run_for(60_000)
        board = board_of(looked.value.json())
        assert board.seed == seed and board.sealed == last
        # The page worked its rank out and shows its place: it never asked the server.
        rank = Draw(seed, last).rank(number)
        position = board.position(number, rank)
        assert position is not None and position > board.near
        expect(page.locator("#position")).to_have_text(f"{position:,}".replace(",", "."))
        expect(page.locator("#eta")).to_have_text(minutes_text(board.estimate(position)))
        expect(page.locator("#draw-note")).to_be_hidden()
        with page.expect_response(lambda r: r.url.endswith("/board")):
            page.clock.run_for(60_000)  # and it goes on following the board
        assert asked.count("own") == 1
    finally:
        context.close()
        holder.close()


def test_the_page_works_out_the_same_ranks_as_the_room(browser: Browser,
                                                       live_server_factory,
                                                       sqlite_url: str) -> None:
    server: LiveServer = live_server_factory(sqlite_url)
    context, page, _visits = phone(browser)
    try:
        page.goto(server.url + "/")  # a secure context (localhost), as HTTPS would be
        page.add_script_tag(url="/static/draw.js")
        for seed, last in ((f"{SEED_PREFIX}{secrets.token_hex(16)}", 1),
                           (f"{SEED_PREFIX}{secrets.token_hex(16)}", 7),
                           (f"{SEED_PREFIX}{secrets.token_hex(16)}", 300),
                           (f"{SEED_PREFIX}{secrets.token_hex(16)}", 2_200_000)):
            numbers = sorted({1, last, *(secrets.randbelow(last) + 1 for _ in range(40))})
            ranks = page.evaluate(
                "([seed, last, numbers]) => Promise.all(numbers.map("
                "n => window.antreanDrawRank(seed, last, n)))", [seed, last, numbers])
            draw = Draw(seed, last)
            assert ranks == [draw.rank(n) for n in numbers], (seed, last)
    finally:
        context.close()
