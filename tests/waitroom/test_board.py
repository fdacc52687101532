"""The board far-back pages follow: what they work out from it, and the room's own board."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis, RedisCluster

from tests.waitroom.test_room import Clock, make_room
from waitroom.board import (
    BOARD_POLL_MS,
    KNOT_RATIO,
    NEAR_LEAD_S,
    NEAR_MIN,
    Board,
    knot_positions,
    make_board,
    near_positions,
)
from waitroom.eta import POLL_CEILING_MS, POLL_JITTER
from waitroom.position import queue_position

Client = Redis | RedisCluster


def board_of(head: int, returning: int, order_left: int, sealed: int,
             knots: tuple[tuple[int, int, int], ...] | None = ((2000, 600, 900),)) -> Board:
    return Board(as_of_ms=0, head=head, returning=returning, order_left=order_left,
                 sealed=sealed, near=2000, knots=knots)


@given(number=st.integers(1, 10**7), head=st.integers(1, 10**7),
       returning=st.integers(0, 1000), order_left=st.integers(0, 10**5))
def test_a_walk_in_works_out_the_position_the_room_would_give(
        number: int, head: int, returning: int, order_left: int) -> None:
    board = board_of(head, returning, order_left, sealed=0)
    position = board.position(number)
    if number < head:
        assert position is None  # the walk passed it: its own poll says what happened
    else:
        assert position == queue_position(number, head=head, returning=returning,
                                          order_left=order_left, sealed=0)


@given(sealed=st.integers(1, 10**6), data=st.data())
def test_a_pre_queue_visitor_needs_its_rank_and_is_told_nothing_once_served(
        sealed: int, data: st.DataObject) -> None:
    order_left = data.draw(st.integers(0, sealed))
    number = data.draw(st.integers(1, sealed))
    rank = data.draw(st.integers(0, sealed))
    board = board_of(sealed + 1, 0, order_left, sealed)
    position = board.position(number, rank)
    served = sealed - order_left
    if rank == 0 or rank <= served:
        assert position is None
    else:
        assert position == queue_position(number, head=sealed + 1, returning=0,
                                          order_left=order_left, sealed=sealed, rank=rank)
    # before the draw nobody following can tell
    assert board_of(1, 0, 0, -1).position(number, rank) is None


knots_strategy = st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 3000)),
                          min_size=1, max_size=30)


@given(steps=knots_strategy, position=st.integers(1, 10**7))
def test_the_wait_between_knots_lies_between_theirs(steps: list[tuple[int, int]],
                                                    position: int) -> None:
    knots, at, low = [], 2000, 0
    for gap, rise in steps:
        low += rise
        knots.append((at, low, low + rise + 60))
        at += gap
    board = board_of(1, 0, 0, 0, tuple(knots))
    wait = board.estimate(position)
    assert wait is not None
    for knot in knots:  # at a knot, the knot's own range
        assert board.estimate(knot[0]) == (knot[1], knot[2])
    if position <= knots[-1][0]:
        lows = [k[1] for k in knots]
        highs = [k[2] for k in knots]
        assert min(lows) <= wait[0] <= max(lows) and min(highs) <= wait[1] <= max(highs)
    assert board_of(1, 0, 0, 0, None).estimate(position) is None  # paused: no estimate


@given(max_active=st.integers(1, 100_000), rate=st.integers(0, 1_000_000))
def test_far_back_starts_past_the_places_and_two_minutes_of_admissions(
        max_active: int, rate: int) -> None:
    near = near_positions(max_active, rate)
    assert near >= max(NEAR_MIN, max_active) and near >= rate / 60 * NEAR_LEAD_S


@given(near=st.integers(1, 10**5), last=st.integers(1, 10**7))
def test_knots_reach_the_back_a_few_percent_apart(near: int, last: int) -> None:
    positions = knot_positions(near, last)
    assert positions[0] == near and positions[-1] >= last
    assert all(b > a and b <= max(a + 1, math.ceil(a * KNOT_RATIO))
               for a, b in zip(positions, positions[1:], strict=False))
    assert len(positions) <= 2 + math.log(max(last, near) / near) / math.log(KNOT_RATIO) + \
        max(0, 1 / (KNOT_RATIO - 1))


def test_a_page_following_the_board_is_never_a_minute_behind() -> None:
    # its next look, plus the board's age in a cache and the snapshot's, stays under 60 s
    assert BOARD_POLL_MS[1] / 1000 + 1 + 1 < 60
    assert POLL_CEILING_MS * (1 + POLL_JITTER) / 1000 + 1 < 60  # and one asking for itself


def test_a_board_made_while_paused_has_no_knots() -> None:
    board = make_board(as_of_ms=5, head=10, seq=50_000, returning=0, order_left=0, sealed=0,
                       max_active=100, admit_per_minute=600, estimate=lambda _p: None)
    assert board.knots is None
    body = json.loads(board.as_json())
    assert body["knots"] is None and body["near"] == NEAR_MIN and body["head"] == 10


@pytest.mark.anyio
async def test_the_room_board_gives_the_waits_the_room_gives(client: Client) -> None:
    clock = Clock()
    room = await make_room(client, clock, max_active=50, admit_per_minute=600,
                           expected_session_minutes=10)
    for _ in range(50):  # the places, taken
        place = await room.join()
        assert await room.enter(place.number) is not None
    numbers = [(await room.join()).number for _ in range(3000)]
    await room.refresh()
    raw = room.board()
    assert raw is not None and room.board() is raw  # encoded once per snapshot
    body = json.loads(raw)
    board = Board(as_of_ms=body["as_of_ms"], head=body["head"], returning=body["returning"],
                  order_left=body["order_left"], sealed=body["sealed"], near=body["near"],
                  knots=tuple(tuple(k) for k in body["knots"]))
    assert board.as_of_ms == int(clock.now * 1000) and board.near == NEAR_MIN
    assert board.knots is not None and board.knots[-1][0] > 3000
    snapshot = room.snapshot
    assert snapshot is not None
    for number in numbers[NEAR_MIN::97]:
        position = board.position(number)
        assert position is not None
        exact = room.estimate_from(snapshot, position)
        assert exact is not None
        wait = board.estimate(position)
        assert wait is not None
        # between knots a few percent apart the straight line covers nearly all of the
        # exact range (the exact wait climbs in steps of one round of the places)
        overlap = min(wait[1], exact.high_seconds) - max(wait[0], exact.low_seconds)
        assert overlap >= 0.9 * (exact.high_seconds - exact.low_seconds), (position, wait, exact)
        assert abs(wait[0] - exact.low_seconds) <= 0.05 * exact.high_seconds + 600
        # the room says to follow it, with the rank a walk-in needs (none); a poll
        # answered from the snapshot says the same
        assert room.follow_rank(number, position) == 0
        assert room.follow_from_snapshot(number) == (position, 0)
    # near the front nobody follows; nearer still, only Redis answers
    assert room.follow_rank(numbers[10], board.position(numbers[10]) or 0) is None
    near = numbers[NEAR_MIN // 2]
    assert room.follow_from_snapshot(near) == (board.position(near), None)
    assert room.follow_from_snapshot(numbers[0]) is None  # first: within max_active
