"""``bench.day``: a tiny roster over two days, through the real room on the test Redis."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
import redis
from redis.asyncio import Redis

from bench.day_model import Behaviour, Population, draw_population, open_days, window_spec
from bench.day_sim import SERVED, SILENT, DaySimulation, RoomPlan, SimResult, Stepping
from bench.day_tally import Outcome, tally
from scheduler.calendar import DailyHours
from waitroom.keys import RoomKeys

pytestmark = pytest.mark.anyio

# Two working days, so a night's pause and the deadline both come up.
FIRST, LAST = dt.date(2026, 3, 10), dt.date(2026, 3, 11)
HOURS = DailyHours(dt.time(8, 0), dt.time(12, 0))
ZONE = ZoneInfo("Asia/Jakarta")
KEYS = RoomKeys("day-test", "tiny")


@dataclass
class Watch:
    """What the room itself showed after every step."""

    steps: int = 0
    over_cap: list[tuple[int, int, int, int]] = field(default_factory=list)
    admitted_while_paused: list[int] = field(default_factory=list)
    admitted_total: int = 0


@dataclass
class Tiny:
    """One run of the tiny window."""

    population: Population
    result: SimResult
    outcome: Outcome
    watch: Watch


async def run_tiny(url: str, *, roster: int, cap: int, behaviour: Behaviour) -> Tiny:
    spec = window_spec(FIRST, LAST, HOURS, str(ZONE))
    days = open_days(spec, behaviour)
    rng = random.Random(7)
    population = draw_population(roster, spec, days, planned_cap=cap, booked_share=0.3,
                                 session_minutes=20.0, behaviour=behaviour, rng=rng,
                                 assignment_hours=HOURS)
    watch = Watch()
    client = Redis.from_url(url)

    async def observe(sim: DaySimulation, now: int) -> None:
        watch.steps += 1
        active = await client.zcard(KEYS.key("active"))
        admitted = await client.zcard(KEYS.key("admitted"))
        if active + admitted > sim.cap:
            watch.over_cap.append((now, active, admitted, sim.cap))
        total = int(await client.hget(KEYS.key("stats"), "admitted_total") or 0)
        if sim.paused and total > watch.admitted_total:
            watch.admitted_while_paused.append(now)
        watch.admitted_total = total

    simulation = DaySimulation(client, KEYS, days, population, behaviour,
                               RoomPlan(cap=cap, admit_per_minute=6 * cap),
                               Stepping(event_ms=5000), rng, observe)
    try:
        result = await simulation.run()
    finally:
        await client.aclose()
    outcome = tally(result, FIRST, {d.day: d.index for d in days}, ZONE)
    return Tiny(population, result, outcome, watch)


def check_every_visit(tiny: Tiny) -> None:
    """Conservation, causality, and the account against the room's own counters."""
    result, o = tiny.result, tiny.outcome
    visits = result.visits
    assert tiny.watch.steps == result.steps > 0
    assert tiny.watch.over_cap == []
    assert tiny.watch.admitted_while_paused == []
    assert o.visits == len(visits) == result.room_stats["joined_total"]
    assert o.served + o.gave_up + o.still_waiting + o.in_room == o.visits
    first_arrival = {a.person: a.at_ms for a in tiny.population.arrivals}
    served_persons = []
    for n in range(1, len(visits) + 1):
        joined, admitted = visits.joined[n], visits.admitted[n]
        entered, done = visits.entered[n], visits.done[n]
        assert joined >= first_arrival[visits.person[n]]
        assert admitted == -1 or admitted >= joined
        assert entered == -1 or entered >= admitted >= 0
        if visits.stage[n] == SERVED:
            assert done >= entered >= 0
            served_persons.append(visits.person[n])
    assert len(served_persons) == len(set(served_persons)) == o.persons_served
    stats = result.room_stats
    admitted_count = sum(1 for n in range(1, len(visits) + 1) if visits.admitted[n] >= 0)
    silent_admitted = sum(1 for n in range(1, len(visits) + 1)
                          if visits.stage[n] == SILENT and visits.admitted[n] >= 0)
    assert stats.get("admitted_total", 0) == admitted_count
    assert stats.get("finished_total", 0) == o.served
    assert stats.get("left_total", 0) == o.left
    assert stats.get("unclaimed_total", 0) == o.lapsed + silent_admitted
    assert stats.get("waiting", 0) == o.still_waiting + o.gone_silent - silent_admitted


async def test_a_crowded_room_keeps_the_cap_and_every_count(redis_client: redis.Redis,
                                                            redis_url: str) -> None:
    # 300 people for a room that takes about 30 a day: queues, give-ups both ways,
    # returns on the second day, claims too late, and a queue served after closing.
    behaviour = Behaviour(claim_median_seconds=60, claim_sigma=1.0)
    tiny = await run_tiny(redis_url, roster=300, cap=3, behaviour=behaviour)
    check_every_visit(tiny)
    o = tiny.outcome
    assert o.served > 0 and o.left > 0 and o.gone_silent > 0 and o.lapsed > 0
    assert o.visits > tiny.population.persons - tiny.population.no_shows  # some came back
    assert o.at_deadline is not None and o.at_deadline[0] > 0
    assert not o.through_by_deadline
    assert o.waits_ms[-1] > 60 * 60_000


async def test_with_ample_room_everyone_is_through(redis_client: redis.Redis,
                                                   redis_url: str) -> None:
    behaviour = Behaviour(claim_sigma=0.0)  # every claim in 20 s: none lapses
    tiny = await run_tiny(redis_url, roster=300, cap=200, behaviour=behaviour)
    check_every_visit(tiny)
    o = tiny.outcome
    arrived = tiny.population.persons - tiny.population.no_shows
    assert o.persons_arrived == o.persons_served == o.served == arrived > 250
    assert o.gave_up == 0 and o.still_waiting == 0 and o.in_room == 0
    # Everyone in at once, so everyone is let in by the deadline and done within a
    # session's lifetime of it (someone who came at the last minute is still typing).
    assert max(o.waits_ms + o.booked_waits_ms) == 0
    assert o.at_deadline is not None and o.at_deadline[0] == 0
    assert o.last_served_ms is not None
    assert o.last_served_ms <= tiny.result.deadline_ms + 7200 * 1000
    assert o.persons_served_by_deadline >= arrived - o.at_deadline[1]
    assert o.booked_visits > 0 and o.booked_served == o.booked_visits
