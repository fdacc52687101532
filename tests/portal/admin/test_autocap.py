"""The automatic cap follows the form's response time: down when slow, back up when fast."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from starlette.middleware import Middleware
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.admin.autocap import (
    AutoCapConfig,
    Decision,
    autocap_step,
    next_cap,
    recent_decisions,
    write_config,
)
from portal.app import create_app
from portal.settings import Settings
from tests.support.admin import add_user, log_in
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom

# The target leaves a busy test machine's form (seen at up to 170 ms) well inside "fast";
# the slow form is more than twice it.
CONFIG = AutoCapConfig(enabled=True, min_cap=2, max_cap=40, target_p95_ms=500, increase=3,
                       decrease_factor=0.5, interval_seconds=1, min_samples=3)


@given(cap=st.integers(-5, 5000), p95=st.one_of(st.none(), st.floats(0, 1e5)),
       samples=st.integers(0, 100))
def test_the_step_stays_within_bounds_and_moves_the_right_way(cap: int, p95: float | None,
                                                               samples: int) -> None:
    after, reason = next_cap(cap, p95, samples, CONFIG)
    assert CONFIG.min_cap <= after <= CONFIG.max_cap
    bounded = min(CONFIG.max_cap, max(CONFIG.min_cap, cap))
    if p95 is None or samples < CONFIG.min_samples:
        assert after == bounded and reason in ("hold", "clamp")
    elif p95 <= CONFIG.target_p95_ms:
        assert after == min(CONFIG.max_cap, bounded + CONFIG.increase) and reason == "increase"
    else:
        assert after == max(CONFIG.min_cap, bounded // 2) and reason == "decrease"


class SlowForm:
    """Makes every form response ``delay["seconds"]`` slower, inside the form's timing."""

    def __init__(self, app: ASGIApp, delay: dict[str, float]) -> None:
        self.app = app
        self.delay = delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/formulir"):
            await asyncio.sleep(self.delay["seconds"])
        await self.app(scope, receive, send)


def run_step(settings: Settings, config: AutoCapConfig | None = None) -> Decision | None:
    """One decision, in its own event loop and connection, as the loop process makes it."""
    async def step() -> Decision | None:
        client = Redis.from_url(str(settings.redis_url))
        room = WaitingRoom(client, RoomKeys(settings.redis_prefix, settings.room))
        try:
            if config is not None:
                await write_config(room, config)
            return await autocap_step(room, use_lock=False)
        finally:
            await client.aclose()
    return asyncio.run(step())


def test_the_cap_falls_under_a_slow_form_and_recovers_when_it_is_fast(
    settings: Settings,
) -> None:
    add_user(settings, "citra", "viewer")
    app = create_app(settings)
    delay = {"seconds": 0.0}
    # Innermost, so the form's own timing (FormLatency) includes the delay.
    app.user_middleware.append(Middleware(SlowForm, delay=delay))
    with TestClient(app) as visitor, TestClient(create_app(settings)) as viewer:
        visitor.get("/")  # writes the room's defaults (cap 2)
        assert run_step(settings, CONFIG) is not None  # no form traffic yet: hold
        caps = [2]
        for _ in range(4):  # fast form: additive increase
            for _ in range(4):
                visitor.get("/formulir", follow_redirects=False)
            decision = run_step(settings)
            assert decision is not None and decision.reason == "increase", decision
            caps.append(decision.after)
        assert caps == [2, 5, 8, 11, 14]

        delay["seconds"] = 1.1  # every form response 1.1 s slower
        for _ in range(2):
            for _ in range(4):
                visitor.get("/formulir", follow_redirects=False)
            decision = run_step(settings)
            assert decision is not None and decision.reason == "decrease", decision
            assert decision.p95_ms is not None and decision.p95_ms >= 300
            caps.append(decision.after)
        assert caps[-2:] == [7, 3]  # multiplicative decrease: 14 -> 7 -> 3

        delay["seconds"] = 0.0
        for _ in range(4):
            visitor.get("/formulir", follow_redirects=False)
        decision = run_step(settings)
        assert decision is not None and (decision.before, decision.after) == (3, 6)
        deadline = time.monotonic() + 1.0  # every process sees the new cap within a second
        while visitor.get("/api/v1/queue/stats").json()["max_active"] != 6:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        log_in(viewer, "citra")
        chart = viewer.get("/admin/api/dasbor").json()["autocap"]
        assert chart["cap"][-4:] == [14, 7, 3, 6]
        assert chart["enabled"] is True and chart["target_p95_ms"] == 500


def test_switched_off_it_decides_nothing(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        client.get("/")
        assert run_step(settings, AutoCapConfig(enabled=False)) is None

        async def decisions() -> list[Decision]:
            redis = Redis.from_url(str(settings.redis_url))
            try:
                return await recent_decisions(WaitingRoom(redis, RoomKeys(
                    settings.redis_prefix, settings.room)))
            finally:
                await redis.aclose()
        assert asyncio.run(decisions()) == []
