"""The admission waits the scripts count, over every transport, on a test-driven clock."""

from __future__ import annotations

import itertools
import math
import re
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis, RedisCluster

from waitroom.config import RoomConfig
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom
from waitroom.states import VisitorState
from waitroom.waits import WAIT_BOUNDS_S, WaitHistogram, histogram_of

pytestmark = pytest.mark.anyio

Client = Redis | RedisCluster
START_MS = 1_800_000_000_000
# Times in steps of 125 ms are exact in the clock's float seconds, so the scripts get
# the very milliseconds a test means.
STEP_MS = 125
ROOMS = itertools.count()


class Clock:
    """A clock that only moves when the test says so, set in milliseconds."""

    def __init__(self, ms: int = START_MS) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000

    def advance(self, seconds: float) -> None:
        self.ms += round(seconds * 1000)


async def make_room(client: Client, clock: Clock, **config: object) -> WaitingRoom:
    # A room of its own per call: property examples share one emptied Redis.
    # Nobody here polls while waiting: nobody goes stale for that.
    room = WaitingRoom(client, RoomKeys("test", f"w{next(ROOMS)}"), clock=clock)
    await room.ensure_config(RoomConfig().changed(stale_after_seconds=0, **config))
    return room


def expected(waits_ms: list[int]) -> WaitHistogram:
    """The histogram of these waits, by Prometheus' rule: a bucket counts waits <= its bound."""
    buckets = tuple((float(bound), sum(1 for w in waits_ms if w <= bound * 1000))
                    for bound in WAIT_BOUNDS_S)
    return WaitHistogram((*buckets, (math.inf, len(waits_ms))), sum(waits_ms) / 1000,
                         len(waits_ms))


def recorded(joined_ms: int, admitted_ms: int) -> int:
    """The wait counted for a visitor who joined and was admitted then: the join time is
    kept to the nearest second."""
    return max(0, admitted_ms - (joined_ms + 500) // 1000 * 1000)


def test_the_scripts_bucket_by_the_bounds_python_reads() -> None:
    prelude = (resources.files("waitroom") / "lua" / "_lib.lua").read_text()
    found = re.search(r"^local WAIT_BOUNDS_S = \{([^}]*)\}", prelude, re.M)
    assert found is not None
    assert tuple(int(b) for b in found.group(1).split(",")) == WAIT_BOUNDS_S


def test_an_empty_hash_is_a_histogram_of_nothing() -> None:
    empty = histogram_of({})
    assert [b for b, _ in empty.buckets] == [*map(float, WAIT_BOUNDS_S), math.inf]
    assert all(n == 0 for _, n in empty.buckets) and empty.count == 0
    assert empty.sum_seconds == 0


# Waits up to five hours, and many a step either side of a bound (where rounding and
# "<=" matter).
near_bounds = st.sampled_from([bound * 1000 + d * STEP_MS for bound in WAIT_BOUNDS_S
                               for d in range(-5, 6)])
anywhere = st.integers(0, 5 * 3600 * 1000 // STEP_MS).map(lambda k: k * STEP_MS)


@given(waits=st.lists(st.one_of(near_bounds, anywhere), min_size=1, max_size=25),
       offset=st.integers(0, 1000 // STEP_MS - 1))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_each_admission_lands_in_the_buckets_of_its_wait(
        client: Client, waits: list[int], offset: int) -> None:
    admitted_ms = START_MS + 6 * 3600 * 1000 + offset * STEP_MS
    clock = Clock()
    room = await make_room(client, clock, max_active=1000, admit_per_minute=1_000_000,
                           paused=True)
    joins = sorted(admitted_ms - wait for wait in waits)
    for joined_ms in joins:
        clock.ms = joined_ms
        assert (await room.join()).state is VisitorState.WAITING
    clock.ms = admitted_ms
    await room.update_config(paused=False)
    assert await room.tick() == len(waits)
    assert await room.admission_waits() == expected([recorded(j, admitted_ms) for j in joins])


async def test_waits_add_up_over_every_way_in(client: Client) -> None:
    joined_ms = START_MS + 375  # .375 s: the join time, rounded, would make a wait of that
    clock = Clock(joined_ms)
    room = await make_room(client, clock, max_active=1, admit_per_minute=600)
    first = await room.join()  # a free place: admitted by their own join
    assert first.state is VisitorState.ADMITTED
    second = await room.join()
    assert await room.admission_waits() == expected([0])
    clock.advance(45)
    grant = await room.enter(first.number)
    assert grant is not None
    await room.finish(grant.session_id)  # gives the place to the second at once
    assert (await room.poll(second.number)).state is VisitorState.ADMITTED
    third, third_joined_ms = await room.join(), clock.ms
    clock.advance(2 * 3600 - 1)  # the second's admission lapses unclaimed; the tick admits
    assert await room.tick() == 1
    assert (await room.poll(third.number)).state is VisitorState.ADMITTED
    waits = await room.admission_waits()
    assert waits == expected([0, recorded(joined_ms, joined_ms + 45_000),
                              recorded(third_joined_ms, clock.ms)])
    assert [n for _, n in waits.buckets] == [1] * 2 + [2] * 7 + [3] * 3
    assert waits.count == (await room.stats(max_age=0)).admitted_total


async def test_an_admission_whose_join_time_was_not_kept_is_not_counted(
        client: Client) -> None:
    clock = Clock()
    room = await make_room(client, clock, paused=True)
    await room.join()
    # As for a visitor who joined before join times were kept: nothing at their number.
    await client.delete(room.keys.key("joined"))
    await room.join()
    clock.advance(90)
    await room.update_config(paused=False)
    assert await room.tick() == 2
    assert (await room.stats(max_age=0)).admitted_total == 2
    assert await room.admission_waits() == expected([90_000])
