"""The board far-back pages follow, through the app: who is told to follow it, and how it
is served (the same to everybody, cacheable for a second, without the route when it can)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings
from tests.portal.visitor.test_hotpath import _same_answer, _wait_for_snapshot, _without_hot_path
from waitroom.board import NEAR_MIN, Board

BOARD = "/api/v1/queue/board"


def board_of(body: dict[str, Any]) -> Board:
    return Board(as_of_ms=body["as_of_ms"], head=body["head"], returning=body["returning"],
                 order_left=body["order_left"], sealed=body["sealed"], near=body["near"],
                 knots=None if body["knots"] is None else tuple(tuple(k) for k in body["knots"]))


def test_far_back_the_page_is_told_to_follow_the_board_and_can_work_out_its_place(
        settings: Settings) -> None:
    app = create_app(settings)  # a cap of 2
    with TestClient(app) as client:
        for _ in range(6):
            client.cookies.clear()
            near = client.post("/api/v1/queue/join", json={}).json()["token"]
        near_browser = client.cookies["antrean_b"]
        room = app.state.portal.room

        async def crowd() -> None:
            for _ in range(NEAR_MIN + 20):
                await room.join([secrets.token_hex(8)])

        assert client.portal is not None
        client.portal.call(crowd)
        client.cookies.clear()
        far = client.post("/api/v1/queue/join", json={}).json()["token"]
        number = int(far.split(".")[1])
        time.sleep(0.6)  # a snapshot read after the last join
        seen: list[str] = []
        body = _wait_for_snapshot(client, far, seen)
        assert body["follow"] == {"number": number, "rank": 0}
        served = client.get(BOARD)
        assert served.status_code == 200
        assert served.headers["cache-control"] == "public, max-age=1"
        assert "set-cookie" not in served.headers
        board = board_of(served.json())
        # what the page works out is what the room told it
        assert board.position(number) == body["position"] > board.near
        wait = board.estimate(body["position"])
        assert wait is not None and body["eta_range_seconds"] is not None
        assert abs(wait[0] - body["eta_range_seconds"][0]) <= 0.05 * wait[1] + 600
        # near the front nobody is told to follow it
        client.cookies.clear()
        client.cookies.set("antrean_b", near_browser)
        close = client.get(f"/api/v1/queue/{near}")
        assert close.status_code == 200 and close.json()["position"] == 4
        assert "follow" not in close.json()


def test_the_board_is_the_same_with_or_without_the_hot_path(settings: Settings) -> None:
    with TestClient(create_app(settings)) as hot, \
            TestClient(_without_hot_path(settings)) as plain:
        hot.post("/api/v1/queue/join", json={})
        time.sleep(0.6)
        first = hot.get(BOARD)
        route = plain.get(BOARD)
        _same_answer(first, route)
        changing = ("as_of_ms", "knots")
        assert {k: v for k, v in first.json().items() if k not in changing} == \
            {k: v for k, v in route.json().items() if k not in changing}
        # a POST is not a way to it
        assert hot.post(BOARD).status_code == 405
