"""The room's Lua scripts against a real Redis, over every transport, on a test-driven clock."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis, RedisCluster

from waitroom.autopipe import PipelinedScript
from waitroom.config import ConfigError, RoomConfig
from waitroom.keys import RoomKeys
from waitroom.room import (
    JoinLimit,
    JoinProof,
    JoinRateLimited,
    PlaceMoved,
    ProofUsed,
    WaitingRoom,
)
from waitroom.scripts import register_scripts
from waitroom.states import VisitorState

pytestmark = pytest.mark.anyio

# Every test here runs over each transport (see conftest.py).
Client = Redis | RedisCluster


class Clock:
    """A clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def make_room(client: Client, clock: Clock, **config: object) -> WaitingRoom:
    room = WaitingRoom(client, RoomKeys("test", "r1"), clock=clock)
    await room.ensure_config(RoomConfig().changed(**config) if config else RoomConfig())
    return room


async def occupied(room: WaitingRoom) -> int:
    stats = await room.stats()
    return stats.active + stats.admitted_unclaimed


async def test_each_transport_calls_the_scripts_as_it_claims(client: Client,
                                                             transport: str) -> None:
    pipelined = isinstance(register_scripts(client).join, PipelinedScript)
    assert pipelined == (transport == "autopipelined")
    assert isinstance(client, RedisCluster) == (transport == "cluster")


async def test_joins_beyond_the_cap_wait_in_order(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=3)
    places = [await room.join() for _ in range(7)]
    assert [p.state for p in places[:3]] == [VisitorState.ADMITTED] * 3
    assert [p.state for p in places[3:]] == [VisitorState.WAITING] * 4
    assert [p.position for p in places[3:]] == [1, 2, 3, 4]
    assert await occupied(room) == 3
    stats = await room.stats()
    assert stats.waiting == 4


async def test_finish_admits_the_next_in_join_order(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=2)
    places = [await room.join() for _ in range(6)]
    admitted_order: list[int] = []
    current = [p.number for p in places[:2]]
    for _ in range(6):
        number = current.pop(0)
        grant = await room.enter(number)
        assert grant is not None
        admitted_order.append(number)
        assert await room.finish(grant.session_id)
        for p in places:
            place = await room.poll(p.number)
            if place.state is VisitorState.ADMITTED and p.number not in current \
                    and p.number not in admitted_order:
                current.append(p.number)
        assert await occupied(room) <= 2
    assert admitted_order == [p.number for p in places]


async def test_idle_session_expires_and_frees_its_place(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1, idle_timeout_seconds=60,
                           session_ttl_seconds=3600)
    first = await room.join()
    second = await room.join()
    grant = await room.enter(first.number)
    assert grant is not None
    clock.advance(59)
    assert await room.heartbeat(grant.session_id) is not None  # activity extends it
    clock.advance(59)
    assert await room.tick() == 0
    assert (await room.poll(second.number)).state is VisitorState.WAITING
    clock.advance(2)
    assert await room.tick() == 1
    assert (await room.poll(first.number)).state is VisitorState.EXPIRED
    assert (await room.poll(second.number)).state is VisitorState.ADMITTED
    assert await room.heartbeat(grant.session_id) is None
    assert not await room.finish(grant.session_id)


async def test_session_lifetime_is_a_hard_limit(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1, idle_timeout_seconds=60,
                           session_ttl_seconds=120)
    first = await room.join()
    grant = await room.enter(first.number)
    assert grant is not None
    for _ in range(3):
        clock.advance(50)
        beat = await room.heartbeat(grant.session_id)
        assert beat is None or beat.idle_deadline_ms <= grant.hard_deadline_ms
    clock.advance(1)
    await room.tick()
    assert (await room.poll(first.number)).state is VisitorState.EXPIRED


async def test_unclaimed_admission_is_reclaimed(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1, claim_window_seconds=30)
    first = await room.join()
    second = await room.join()
    assert first.state is VisitorState.ADMITTED
    clock.advance(31)
    assert await room.enter(first.number) is None  # too late to claim
    await room.tick()
    assert (await room.poll(second.number)).state is VisitorState.ADMITTED
    assert (await room.poll(first.number)).state is VisitorState.EXPIRED


async def test_stale_waiters_are_skipped_and_may_return(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1, stale_after_seconds=60,
                           return_grace_seconds=600)
    holder = await room.join()
    gone = await room.join()
    present = await room.join()
    grant = await room.enter(holder.number)
    assert grant is not None
    for _ in range(3):
        clock.advance(30)
        await room.poll(present.number)  # only this one keeps polling
    await room.finish(grant.session_id)
    assert (await room.poll(present.number)).state is VisitorState.ADMITTED
    assert (await room.poll(gone.number)).state is VisitorState.WAITING  # came back in grace
    g2 = await room.enter(present.number)
    assert g2 is not None
    await room.finish(g2.session_id)
    assert (await room.poll(gone.number)).state is VisitorState.ADMITTED


async def test_pause_stops_admissions_and_resume_continues(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=5)
    await room.update_config(paused=True)
    places = [await room.join() for _ in range(3)]
    assert all(p.state is VisitorState.WAITING for p in places)
    await room.update_config(paused=False)
    assert await room.tick() == 3
    assert [(await room.poll(p.number)).state for p in places] == [VisitorState.ADMITTED] * 3


async def test_rate_limits_admissions_per_minute(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=100, admit_per_minute=60)
    places = [await room.join() for _ in range(30)]
    admitted = sum(p.state is VisitorState.ADMITTED for p in places)
    assert admitted == 10  # the burst: ten seconds' worth
    clock.advance(5)
    assert await room.tick() == 5
    clock.advance(60)
    assert await room.tick() == 10  # never more than the burst at once


async def test_same_identifier_gets_the_same_place(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1)
    await room.join()
    first = await room.join(["hash-of-nik"])
    again = await room.join(["other-hash", "hash-of-nik"])
    assert again.number == first.number and not again.is_new
    stored = await client.hgetall(room.keys.key("ids"))
    assert b"hash-of-nik" in stored  # only the keyed hash is kept


async def test_a_moved_place_belongs_to_the_new_browser_only(client: Client,
                                                             clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1)
    await room.join(["browser-x"])  # holds the one place
    place = await room.join(["browser-a", "held-by-a"])
    assert await room.move(place.number, "browser-b", ["browser-b"])
    # The new browser finds it again; the old one, by any of its identifiers, gets a new place.
    assert (await room.join(["browser-b"])).number == place.number
    left = await room.join(["browser-a", "held-by-a"])
    assert left.number != place.number and left.is_new
    holder = await room.enter(1, "browser-x")
    assert holder is not None
    await room.finish(holder.session_id)  # the next in order is the moved place
    assert (await room.poll(place.number)).state is VisitorState.ADMITTED
    with pytest.raises(PlaceMoved):
        await room.enter(place.number, "browser-a")
    assert await room.enter(place.number, "browser-b") is not None
    assert not await room.move(99, "browser-c")  # no such place: nothing to move


async def test_joins_past_an_address_bucket_are_refused_until_it_refills(
        client: Client, clock: Clock) -> None:
    room = await make_room(client, clock)
    bucket = JoinLimit(burst=3, per_minute=60)
    for _ in range(3):
        await room.join(address_hash="a1", limit=bucket)
    with pytest.raises(JoinRateLimited) as refused:
        await room.join(address_hash="a1", limit=bucket)
    # one token a second: the next one is back within a second, and one is owed
    assert refused.value.retry_after == 1 and refused.value.overage == 1
    await room.join(address_hash="a2", limit=bucket)  # another address is not affected
    clock.advance(0.5)
    with pytest.raises(JoinRateLimited):  # half a token is not a join
        await room.join(address_hash="a1", limit=bucket)
    clock.advance(0.5)
    await room.join(address_hash="a1", limit=bucket)
    clock.advance(3600)  # refilled, never above the bucket's size
    for _ in range(3):
        await room.join(address_hash="a1", limit=bucket)
    with pytest.raises(JoinRateLimited):
        await room.join(address_hash="a1", limit=bucket)


async def test_a_proof_lets_a_join_past_the_bucket_once_and_is_owed(client: Client,
                                                                    clock: Clock) -> None:
    room = await make_room(client, clock)
    bucket = JoinLimit(burst=1, per_minute=60)
    await room.join(address_hash="a1", limit=bucket)
    proof = JoinProof("p:first", 120_000)
    place = await room.join(address_hash="a1", limit=bucket, proof=proof)
    assert place.is_new
    with pytest.raises(ProofUsed):
        await room.join(address_hash="a1", limit=bucket, proof=proof)
    for n in range(3):
        await room.join(address_hash="a1", limit=bucket, proof=JoinProof(f"p:{n}", 120_000))
    # four joins past the bucket are owed: the refused join says it would be the fifth
    with pytest.raises(JoinRateLimited) as refused:
        await room.join(address_hash="a1", limit=bucket)
    assert refused.value.overage == 5 and refused.value.retry_after == 5
    clock.advance(5)
    await room.join(address_hash="a1", limit=bucket)
    # the marker of a used proof lasts as long as the proof could be presented
    ttl = await client.pttl(room.keys.join_proof("p:first"))
    assert 0 < ttl <= 120_000


async def test_the_slow_lane_spaces_out_an_address_s_turns(client: Client,
                                                           clock: Clock) -> None:
    room = await make_room(client, clock)
    now_ms = int(clock.now * 1000)
    turns = [await room.lane_turn("a1", delay_ms=15_000, spacing_ms=5_000, max_wait_ms=30_000)
             for _ in range(4)]
    assert turns == [now_ms + 15_000, now_ms + 20_000, now_ms + 25_000, now_ms + 30_000]
    assert await room.lane_turn("a1", delay_ms=15_000, spacing_ms=5_000,
                                max_wait_ms=30_000) is None  # full for now
    assert await room.lane_turn("a2", delay_ms=15_000, spacing_ms=5_000,
                                max_wait_ms=30_000) == now_ms + 15_000
    clock.advance(60)
    assert await room.lane_turn("a1", delay_ms=15_000, spacing_ms=5_000,
                                max_wait_ms=30_000) == now_ms + 75_000


async def test_config_changes_apply_at_once_and_are_validated(client: Client,
                                                              clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1)
    places = [await room.join() for _ in range(4)]
    assert sum(p.state is VisitorState.ADMITTED for p in places) == 1
    other_process = WaitingRoom(client, RoomKeys("test", "r1"), clock=clock)
    await other_process.update_config(max_active=3)
    assert await room.tick() == 2
    with pytest.raises(ConfigError) as bad:
        await room.update_config(max_active=0, admit_per_minute=-1)
    assert set(bad.value.fields) == {"max_active", "admit_per_minute"}
    assert (await room.config(max_age=0)).max_active == 3


async def test_every_key_shares_the_room_hash_tag(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1)
    await room.join(["x"], address_hash="a", limit=JoinLimit(5, 60))
    await room.join(address_hash="a", limit=JoinLimit(5, 60), proof=JoinProof("p:x", 1000))
    await room.lane_turn("a", delay_ms=1000, spacing_ms=1000, max_wait_ms=60_000)
    grant = await room.enter(1)
    assert grant is not None
    keys = [k.decode() async for k in client.scan_iter()]  # on a cluster, every node's
    assert keys and all("{r1}" in k for k in keys)


async def test_prequeue_is_admitted_in_the_order_of_the_published_seed(
    client: Client, clock: Clock
) -> None:
    from waitroom.prequeue import prequeue_order

    room = await make_room(client, clock, max_active=1, opens_at=int(clock.now) + 600)
    early = [await room.join() for _ in range(12)]
    assert all(p.state is VisitorState.WAITING and p.awaiting_draw for p in early)
    assert await room.tick() == 0  # closed until opening
    assert await room.published_seed() is None
    clock.advance(600)
    late = await room.join()  # after opening, before the draw: behind everyone early
    assert await room.tick_if_leader() == 1
    seed = await room.published_seed()
    assert seed
    expected = prequeue_order(seed, 12)
    places = {p.number: await room.poll(p.number) for p in early}
    positions = {n: place.position for n, place in places.items()
                 if place.state is VisitorState.WAITING}
    admitted: list[int] = []
    for _ in range(13):
        current = [p.number for p in [*early, late]
                   if (await room.poll(p.number)).state is VisitorState.ADMITTED]
        assert len(current) == 1
        admitted.append(current[0])
        grant = await room.enter(current[0])
        assert grant is not None
        await room.finish(grant.session_id)
    assert admitted == [*expected, late.number]
    # the positions shown after the draw matched the drawn order
    first = expected[0]
    assert sorted(positions, key=positions.__getitem__) == [n for n in expected if n != first]


async def test_prequeue_order_is_not_disturbed_by_a_second_draw(
    client: Client, clock: Clock
) -> None:
    room = await make_room(client, clock, max_active=5, opens_at=int(clock.now) + 10)
    for _ in range(3):
        await room.join()
    clock.advance(10)
    assert await room.seal_prequeue()
    seed = await room.published_seed()
    assert not await room.seal_prequeue()
    assert await room.published_seed() == seed


async def test_after_closing_new_joins_are_refused_but_the_queue_is_served(
    client: Client, clock: Clock
) -> None:
    from waitroom.room import QueueClosed

    room = await make_room(client, clock, max_active=1, closes_at=int(clock.now) + 60)
    first = await room.join(["id-1"])
    second = await room.join()
    clock.advance(60)
    with pytest.raises(QueueClosed):
        await room.join()
    again = await room.join(["id-1"])  # someone already in the queue keeps their place
    assert again.number == first.number
    grant = await room.enter(first.number)
    assert grant is not None
    await room.finish(grant.session_id)
    assert (await room.poll(second.number)).state is VisitorState.ADMITTED


async def test_booked_visitors_go_ahead_within_their_share(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=4, booked_share=0.5)
    holders = [await room.join() for _ in range(4)]
    walk_ins = [await room.join() for _ in range(3)]
    booked = [await room.join(booked=True) for _ in range(3)]
    assert all(p.state is VisitorState.WAITING for p in walk_ins + booked)
    grants = [await room.enter(p.number) for p in holders]
    order: list[int] = []
    for grant in grants:
        assert grant is not None
        await room.finish(grant.session_id)
        newly = [p.number for p in walk_ins + booked
                 if (await room.poll(p.number)).state is VisitorState.ADMITTED
                 and p.number not in order]
        order.extend(newly)
    # two booked first (half of four places), then walk-ins in order
    assert order == [booked[0].number, booked[1].number, walk_ins[0].number, walk_ins[1].number]


async def test_places_are_held_for_bookings_expected_now(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=4, booked_share=0.5)
    await room.set_booked_expected(2)
    walk_ins = [await room.join() for _ in range(4)]
    assert sum(p.state is VisitorState.ADMITTED for p in walk_ins) == 2
    booked = await room.join(booked=True)
    assert booked.state is VisitorState.ADMITTED
    await room.set_booked_expected(0)
    assert await room.tick() == 1  # the last held place goes to the next walk-in


async def test_polls_far_back_are_answered_from_the_snapshot(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=2, stale_after_seconds=60)
    places = [await room.join() for _ in range(10)]
    await room.refresh()
    near = room.poll_from_snapshot(places[2].number)
    assert near is None  # within the next max_active places: Redis answers exactly
    for place in places[4:]:
        fast = room.poll_from_snapshot(place.number)
        exact = await room.poll(place.number)
        assert fast is not None and fast.state is VisitorState.WAITING
        assert fast.position == exact.position
    # the batched "still here" marks keep a far-back poller from going stale
    await room.flush_touches()
    clock.advance(50)
    assert room.poll_from_snapshot(places[9].number) is not None
    assert await room.flush_touches() == 1
    clock.advance(50)  # 100 s since anyone else polled, 50 s since the last one did
    await room.update_config(max_active=20)
    assert await room.tick() == 1
    stats = await client.hgetall(room.keys.key("stats"))
    assert int(stats[b"skipped_total"]) == 7
    assert (await room.poll(places[9].number)).state is VisitorState.ADMITTED


async def test_polls_far_back_in_the_prequeue_get_the_position_redis_gives(
    client: Client, clock: Clock
) -> None:
    room = await make_room(client, clock, max_active=2, opens_at=int(clock.now) + 600)
    early = [await room.join() for _ in range(10)]
    clock.advance(600)
    assert await room.tick_if_leader() == 2
    exact = {p.number: await room.poll(p.number) for p in early}
    await room.refresh()
    answered = 0
    for number, place in exact.items():
        fast = room.poll_from_snapshot(number)
        if place.state is not VisitorState.WAITING or place.position <= 2:
            assert fast is None  # admitted, or within the next max_active places
        else:
            assert fast is not None and fast.position == place.position
            answered += 1
    assert answered == 6


async def test_snapshot_never_claims_a_served_prequeue_visitor_is_waiting(
    client: Client, clock: Clock
) -> None:
    room = await make_room(client, clock, max_active=1, stale_after_seconds=60,
                           return_grace_seconds=600, opens_at=int(clock.now) + 600)
    early = [await room.join() for _ in range(2)]
    clock.advance(600)
    gone, present = await room.join(), await room.join()
    assert await room.tick_if_leader() == 1
    served: list[int] = []
    for _ in range(2):
        places = {p.number: await room.poll(p.number) for p in early}
        number = next(n for n, place in places.items() if place.state is VisitorState.ADMITTED)
        grant = await room.enter(number)
        assert grant is not None
        served.append(number)
        for _ in range(3):
            clock.advance(30)
            await room.poll(present.number)
        await room.finish(grant.session_id)
    assert (await room.poll(present.number)).state is VisitorState.ADMITTED
    assert (await room.poll(gone.number)).state is VisitorState.WAITING  # came back
    await room.refresh()
    assert room.snapshot is not None and room.snapshot.returning == 1
    for number in served:
        assert (await room.poll(number)).state is VisitorState.FINISHED
        assert room.poll_from_snapshot(number) is None


async def test_snapshot_never_claims_a_place_held_out_of_order(client: Client,
                                                               clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1, booked_share=1.0)
    await room.join()
    for _ in range(5):
        await room.join()
    booked = await room.join(booked=True)
    holder = await room.poll(1)
    grant = await room.enter(holder.number)
    assert grant is not None
    await room.finish(grant.session_id)  # the freed place goes to the booked visitor
    await room.refresh()
    assert room.poll_from_snapshot(booked.number) is None
    assert (await room.poll(booked.number)).state is VisitorState.ADMITTED


async def test_a_visitor_who_leaves_is_passed_over(client: Client, clock: Clock) -> None:
    room = await make_room(client, clock, max_active=1)
    holder = await room.join()
    leaving = await room.join()
    staying = await room.join()
    assert await room.leave(leaving.number)
    assert not await room.leave(leaving.number)
    assert not await room.leave(holder.number)  # admitted, not waiting
    assert (await room.stats(max_age=0)).waiting == 1
    grant = await room.enter(holder.number)
    assert grant is not None
    await room.finish(grant.session_id)
    assert (await room.poll(staying.number)).state is VisitorState.ADMITTED
    assert (await room.poll(leaving.number)).public_state == "left"


async def test_visitors_who_asked_are_listed_for_a_notice_when_admitted(
    client: Client, clock: Clock
) -> None:
    room = await make_room(client, clock, max_active=1)
    holder = await room.join()
    quiet = await room.join()
    told = await room.join()
    await room.want_notice(told.number)
    for _ in range(2):
        place = await room.poll(quiet.number)
        number = holder.number if place.state is VisitorState.WAITING else quiet.number
        grant = await room.enter(number)
        assert grant is not None
        await room.finish(grant.session_id)
    assert await room.take_due_notices() == [told.number]
    assert await room.take_due_notices() == []  # popped once, by one process
    deadline = await room.claim_deadline_ms(told.number)
    assert deadline is not None and deadline > clock.now * 1000


async def test_a_follower_the_queue_reached_before_it_looked_is_served_when_it_does(
        client: Client, clock: Clock) -> None:
    # A page far back follows the board and is not marked present until it nears the
    # front; when the queue gets there first, the grace counts from the skip.
    room = await make_room(client, clock, max_active=1, stale_after_seconds=60,
                           return_grace_seconds=600)
    holder = await room.join()
    follower = await room.join()
    behind = await room.join()
    grant = await room.enter(holder.number)
    assert grant is not None
    clock.advance(3600)  # an hour of following the board: no poll of its own
    await room.poll(behind.number)
    await room.finish(grant.session_id)  # the walk skips the follower, admits the one behind
    assert (await room.poll(behind.number)).state is VisitorState.ADMITTED
    clock.advance(55)  # the page's next look at the board shows its number passed: it asks
    assert (await room.poll(follower.number)).state is VisitorState.WAITING
    served = await room.enter(behind.number)
    assert served is not None
    await room.finish(served.session_id)
    assert (await room.poll(follower.number)).state is VisitorState.ADMITTED  # next in line
