"""The hot path answers status polls and joins exactly as the routes do, without them."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.app import create_app
from portal.settings import Settings
from portal.visitor.place import PlaceView, waiting_json
from waitroom.eta import WaitEstimate
from waitroom.room import Place
from waitroom.states import VisitorState

# Headers that differ between two answers for reasons other than the code path.
# "connection": a body over its limit is refused unread in front of both (portal.bodies),
# which ends the connection; the route itself never sees it. "x-request-id": one per answer.
VOLATILE = {"date", "content-length", "set-cookie", "connection", "x-request-id"}


class Probe:
    """Counts the requests that get past the hot path to the rest of the app."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def _probed(settings: Settings) -> tuple[Starlette, list[str]]:
    app = create_app(settings)
    seen: list[str] = []
    app.user_middleware.insert(0, Middleware(Probe, seen=seen))
    return app, seen


def _without_hot_path(settings: Settings) -> ASGIApp:
    """The same portal with every request through the middleware stack and the routes."""
    app = create_app(settings)

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(app, scope, receive, send)

    return plain


@pytest.fixture
def both(settings: Settings) -> Iterator[tuple[TestClient, list[str], TestClient]]:
    hot, seen = _probed(settings)
    with TestClient(hot) as hot_client, TestClient(_without_hot_path(settings)) as plain:
        yield hot_client, seen, plain


def _same_answer(hot: Any, plain: Any) -> None:
    assert hot.status_code == plain.status_code
    assert {k: v for k, v in hot.headers.items() if k not in VOLATILE} == \
        {k: v for k, v in plain.headers.items() if k not in VOLATILE}


def _wait_for_snapshot(client: TestClient, token: str, seen: list[str]) -> dict[str, Any]:
    """Poll until the room's half-second snapshot answers (the hot path takes it)."""
    deadline = time.monotonic() + 3
    while True:
        before = len(seen)
        response = client.get(f"/api/v1/queue/{token}")
        assert response.status_code == 200
        if len(seen) == before:
            body: dict[str, Any] = response.json()
            return body
        assert time.monotonic() < deadline, "no poll was answered from the snapshot"
        time.sleep(0.1)


def test_a_poll_far_back_is_answered_from_the_snapshot_like_the_route(both) -> None:
    hot, seen, plain = both
    for _ in range(6):  # max_active is 2: the last visitors wait far enough back
        hot.cookies.clear()
        joined = hot.post("/api/v1/queue/join", json={})
    token = joined.json()["token"]
    # Both apps answer from snapshots read after the last join (each is half a second
    # old at most): an older one would be about a room with fewer visitors in it.
    time.sleep(0.6)
    body = _wait_for_snapshot(hot, token, seen)
    answered = time.monotonic()
    plain.cookies.update({"antrean_b": hot.cookies["antrean_b"]})
    route = plain.get(f"/api/v1/queue/{token}")
    # The wait counts down with the clock: the two answers may be this far apart.
    apart = 1 + math.ceil(time.monotonic() - answered)
    _same_answer(hot.get(f"/api/v1/queue/{token}"), route)
    expected = route.json()
    assert body["state"] == "waiting" and body["position"] == 4
    # Everything but the jittered poll interval and the wait is the same answer; the
    # wait counts down with the clock, so two answers a moment apart may round apart.
    moving = ("poll_after_ms", "eta_seconds", "eta_range_seconds")
    assert {k: v for k, v in body.items() if k not in moving} == \
        {k: v for k, v in expected.items() if k not in moving}
    assert abs(body["eta_seconds"] - expected["eta_seconds"]) <= apart
    assert all(abs(a - b) <= apart for a, b in zip(
        body["eta_range_seconds"], expected["eta_range_seconds"], strict=True)), \
        (body["eta_range_seconds"], expected["eta_range_seconds"], apart)
    assert abs(body["poll_after_ms"] - expected["poll_after_ms"]) <= 0.5 * expected["poll_after_ms"]
    assert hot.get(f"/api/v1/queue/{token}").headers["cache-control"] == "no-store"


def test_polls_near_the_front_or_with_bad_tokens_go_to_the_route(both) -> None:
    hot, seen, _plain = both
    first = hot.post("/api/v1/queue/join", json={}).json()["token"]
    time.sleep(0.6)  # a fresh snapshot: still the route, since this visitor is admitted
    seen.clear()
    admitted = hot.get(f"/api/v1/queue/{first}")
    assert admitted.json()["enter_url"] == f"/api/v1/queue/{first}/enter"
    assert hot.get("/api/v1/queue/garbage").status_code == 401
    hot.cookies.clear()
    assert hot.get(f"/api/v1/queue/{first}").status_code == 403
    assert hot.get("/api/v1/queue/stats").status_code == 200
    assert seen == [f"GET /api/v1/queue/{first}", "GET /api/v1/queue/garbage",
                    f"GET /api/v1/queue/{first}", "GET /api/v1/queue/stats"]


def test_a_join_is_answered_without_the_route_with_the_same_cookies(both) -> None:
    hot, seen, plain = both
    fast = hot.post("/api/v1/queue/join", json={"nik": "3601284811855133"})
    slow = plain.post("/api/v1/queue/join", json={"email": "a@b.id"})
    assert seen == []
    _same_answer(fast, slow)
    assert fast.status_code == 201 and set(fast.json()) == set(slow.json())

    def attributes(response: Any) -> list[list[str]]:
        cookies = response.headers.get_list("set-cookie")
        return [sorted(part.split("=")[0] for part in c.split("; ")) for c in cookies]

    assert attributes(fast) == attributes(slow)
    again = hot.post("/api/v1/queue/join", json={"nik": "3601 2848 1185 5133"})
    assert again.status_code == 200
    assert again.json()["token"].split(".")[1] == fast.json()["token"].split(".")[1]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "bad_json"),
        (b"[1]", 400, "bad_json"),
        (b'{"nik": "12AB"}', 422, "invalid_fields"),
        (b"x" * 20000, 413, "too_large"),
    ],
)
def test_bad_joins_get_the_routes_errors(both, body: bytes, status: int, code: str) -> None:
    hot, seen, plain = both
    headers = {"content-type": "application/json"}
    fast = hot.post("/api/v1/queue/join", content=body, headers=headers)
    slow = plain.post("/api/v1/queue/join", content=body, headers=headers)
    assert seen == []
    _same_answer(fast, slow)
    assert fast.json() == slow.json() and fast.json()["error"]["code"] == code
    assert fast.status_code == status
    assert (fast.headers.get("connection") == "close") == (status == 413)


def test_rate_limited_and_closed_joins_match_the_route(
    redis_client, redis_url: str, tmp_path: Path
) -> None:
    from tests.support.apps import make_settings

    base = make_settings(redis_url, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    limited = replace(base, join_burst=1, join_rate_per_minute=1)
    hot, seen = _probed(limited)
    with TestClient(hot) as fast, TestClient(_without_hot_path(limited)) as slow:
        fast.post("/api/v1/queue/join", json={})  # the address's one join this minute
        fast.cookies.clear()  # another browser: the first finds its own place again
        refused_fast = fast.post("/api/v1/queue/join", json={})
        refused_slow = slow.post("/api/v1/queue/join", json={})
    _same_answer(refused_fast, refused_slow)
    assert refused_fast.status_code == 429 and refused_fast.headers["retry-after"]
    redis_client.flushdb()  # a room's settings are written once: start the closed room anew
    closed = make_settings(redis_url, f"sqlite:///{tmp_path / 'db2.sqlite'}", tmp_path,
                           closes_at=int(time.time()) - 1)
    hot_closed, seen_closed = _probed(closed)
    with TestClient(hot_closed) as fast, TestClient(_without_hot_path(closed)) as slow:
        shut_fast = fast.post("/api/v1/queue/join", json={})
        shut_slow = slow.post("/api/v1/queue/join", json={})
    _same_answer(shut_fast, shut_slow)
    assert shut_fast.json() == shut_slow.json()
    assert shut_fast.json()["error"]["code"] == "queue_closed"
    assert seen == [] and seen_closed == []


@given(position=st.integers(min_value=1, max_value=10**9),
       low=st.integers(min_value=0, max_value=10**9),
       extra=st.integers(min_value=0, max_value=10**9),
       poll=st.integers(min_value=0, max_value=10**6),
       known=st.booleans())
def test_the_written_poll_body_is_the_encoded_dictionary(
    position: int, low: int, extra: int, poll: int, known: bool
) -> None:
    estimate = WaitEstimate(low, low + extra, 1.5, True) if known else None
    view = PlaceView(Place(7, VisitorState.WAITING, position, 0), estimate, poll)
    assert waiting_json(position, estimate, poll) == JSONResponse(view.as_json()).body
