"""/metrics reports the room's admission waits as a histogram, read from Redis."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace

import pytest
from redis.asyncio import Redis
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings
from tests.support.metrics import families, scrape, value
from tests.support.servers import free_port
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom
from waitroom.waits import WAIT_BOUNDS_S

LOCAL = ("127.0.0.1", 40000)  # the default monitoring range: loopback
HISTOGRAM = "antrean_admission_wait_seconds"


class Clock:
    """The room's clock as another process would have it, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def buckets(text: str) -> dict[float, float]:
    """The histogram's cumulative count by bucket bound."""
    return {float(s.labels["le"]): s.value for s in scrape(text)[HISTOGRAM]
            if s.name == f"{HISTOGRAM}_bucket"}


def admit_after_waits(settings: Settings) -> None:
    """Two visitors admitted on a clock the test moves: after 45 s and after 7,000 s."""
    async def run() -> None:
        client = Redis.from_url(str(settings.redis_url))
        clock = Clock()
        room = WaitingRoom(client, RoomKeys(settings.redis_prefix, settings.room), clock=clock)
        try:
            await room.update_config(stale_after_seconds=0)  # nobody polls here
            assert (await room.join()).public_state == "waiting"  # both places are taken
            clock.now += 45
            await room.update_config(max_active=3)
            assert await room.tick() == 1
            assert (await room.join()).public_state == "waiting"
            clock.now += 7000  # every admission's claim window lapses: the places free
            assert await room.tick() == 1
        finally:
            await client.aclose()
    asyncio.run(run())


def test_admissions_show_in_the_wait_histogram_of_every_scrape(settings: Settings) -> None:
    with TestClient(create_app(settings), client=LOCAL) as client:
        before = client.get("/metrics").text
        for _ in range(2):  # two browsers, admitted by their own join: a wait of 0
            client.cookies.clear()
            assert client.post("/api/v1/queue/join", json={}).json()["state"] == "admitted"
        admit_after_waits(settings)
        text = client.get("/metrics").text
    assert families(before)[HISTOGRAM] == "histogram"
    bounds = [*map(float, WAIT_BOUNDS_S), math.inf]
    assert buckets(before) == dict.fromkeys(bounds, 0)
    assert families(text)[HISTOGRAM] == "histogram"
    counted = {bound: 2 if bound < 60 else 3 if bound < 7200 else 4 for bound in bounds}
    assert buckets(text) == counted
    assert value(text, f"{HISTOGRAM}_count") == 4
    # the join times are kept to the nearest second
    assert value(text, f"{HISTOGRAM}_sum") == pytest.approx(7045, abs=1)


def test_the_histogram_is_absent_while_redis_is_away(settings: Settings) -> None:
    with TestClient(create_app(settings), client=LOCAL) as client:
        assert HISTOGRAM in families(client.get("/metrics").text)
    away = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(away), client=LOCAL) as client:
        text = client.get("/metrics").text
    assert value(text, "antrean_redis_up") == 0
    assert HISTOGRAM not in families(text)
