"""A registration window replayed in simulated time through the room's own scripts.

The room is ``waitroom.room.WaitingRoom`` on a real Redis, its clock the simulation's:
every Lua script takes its time from the caller, so a month passes in minutes. The
simulation keeps its own account of every visit from the scripts' replies and the
room's ``due`` list, and cross-checks it against the room as it goes (a visit the
room and the account disagree about stops the run).

Time moves in steps. A step handles every event due by then, in this order: claims
(``enter``), finished sessions (``finish``), give-ups (``leave``), arrivals (``join``,
all of a step's in one pipelined write), then ``tick`` when it can do something.
Events wait for the next step on a grid of ``Stepping.event_ms``; the ticker runs
every ``tick_ms`` while someone waits and a place is free, backing off to
``idle_tick_ms`` while its ticks admit nobody.

Every waiter counts as one who asked to be told when their turn opens ("Kabari
saya"): they need not poll, are never skipped as stale, and each admission reaches
the room's ``due`` list, from which the simulation learns who was let in. Polls and
heartbeats are not simulated: the idle timeout is set to the session's lifetime,
longer than any drawn session.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from bench.day_model import Arrival, Behaviour, OpenDay, Population, draw_day, draw_time_ms
from waitroom.config import RoomConfig
from waitroom.keys import RoomKeys
from waitroom.room import Place, QueueClosed, SessionGrant, WaitingRoom
from waitroom.states import VisitorState

# A visit's stage, as the simulation knows it.
WAITING, ADMITTED, ACTIVE, SERVED, LEFT, SILENT, LAPSED = range(7)
ENTER, FINISH, GIVE_UP, RETURN = range(4)  # GIVE_UP events have a queue of their own
OPEN, CLOSE, DEADLINE = 1, -1, 0
DAY_MS = 86_400_000
DUE_BATCH = 500
ANNOUNCE_BLOCK = 10_000


@dataclass(frozen=True)
class RoomPlan:
    """The live settings the simulated room runs with."""

    cap: int
    admit_per_minute: int
    booked_share: float = 0.3
    claim_window_seconds: int = 180
    session_ttl_seconds: int = 7200
    expected_session_minutes: float = 20.0

    def config(self, opens_at: int, closes_at: int) -> RoomConfig:
        """The room's settings: paused until the first opening, idle timeout = lifetime."""
        return RoomConfig(max_active=self.cap, admit_per_minute=self.admit_per_minute,
                          session_ttl_seconds=self.session_ttl_seconds,
                          idle_timeout_seconds=self.session_ttl_seconds,
                          claim_window_seconds=self.claim_window_seconds,
                          booked_share=self.booked_share,
                          expected_session_minutes=self.expected_session_minutes,
                          paused=True, opens_at=opens_at, closes_at=closes_at).validate()

    def cap_on(self, day: OpenDay) -> int:
        """The live cap on a day: the calendar's weight applied, as the planner assumes."""
        return max(1, round(self.cap * day.weight))


@dataclass(frozen=True)
class Stepping:
    """How simulated time moves."""

    event_ms: int = 500
    tick_ms: int = 500
    idle_tick_ms: int = 16_000
    horizon_days: int = 7


class SimClock:
    """The room's clock: simulated epoch seconds."""

    def __init__(self, now_ms: int = 0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> float:
        return self.now_ms / 1000


@dataclass
class Visits:
    """Every visit, indexed by its queue number (0 unused); times in epoch ms, -1: never."""

    person: array[int] = field(default_factory=lambda: array("q", [-1]))
    booked: bytearray = field(default_factory=lambda: bytearray(1))
    stage: bytearray = field(default_factory=lambda: bytearray(1))
    joined: array[int] = field(default_factory=lambda: array("q", [-1]))
    admitted: array[int] = field(default_factory=lambda: array("q", [-1]))
    entered: array[int] = field(default_factory=lambda: array("q", [-1]))
    done: array[int] = field(default_factory=lambda: array("q", [-1]))

    def __len__(self) -> int:
        return len(self.stage) - 1

    def _columns(self) -> tuple[array[int] | bytearray, ...]:
        return (self.person, self.booked, self.stage, self.joined, self.admitted,
                self.entered, self.done)

    def resize(self, count: int) -> None:
        """Hold queue numbers 1 .. ``count`` (new ones never joined yet)."""
        for column in self._columns():
            if len(column) > count + 1:
                del column[count + 1:]
            elif isinstance(column, bytearray):
                column.extend(bytes(count + 1 - len(column)))
            else:
                column.extend(array("q", [-1]) * (count + 1 - len(column)))


@dataclass
class SimResult:
    """What one run did."""

    visits: Visits
    persons: int
    deadline_ms: int
    end_ms: int
    # open-day index -> (waiting, holding a place) at its closing, of those still trying
    at_close: dict[int, tuple[int, int]]
    shut_out: int
    steps: int
    calls: dict[str, int]
    room_stats: dict[str, int]


Observer = Callable[["DaySimulation", int], Awaitable[None]]


class DaySimulation:
    """One run: the population's visits through one room, step by step."""

    def __init__(self, client: Redis, keys: RoomKeys, days: Sequence[OpenDay],
                 population: Population, behaviour: Behaviour, plan: RoomPlan,
                 stepping: Stepping, rng: random.Random, observer: Observer | None = None
                 ) -> None:
        self.clock = SimClock()
        self.room = WaitingRoom(client, keys, clock=self.clock)
        self.days = list(days)
        self.population = population
        self.behaviour = behaviour
        self.plan = plan
        self.stepping = stepping
        self.rng = rng
        self.observer = observer
        self.visits = Visits()
        self.sessions: dict[int, str] = {}
        self.at_join = bytearray(1)  # 1: admitted by its own join
        self.holding = bytearray(1)  # 1: admitted, place held, not claimed yet
        self.events: list[tuple[int, int, int, int]] = []
        self.claims: list[tuple[int, int]] = []  # (claim deadline, number)
        self.give_ups: list[tuple[int, int]] = []  # (end of patience, number)
        self.arrivals: Sequence[Arrival] = population.arrivals
        self.next_arrival = 0
        self.actions = self._calendar_actions()
        self.next_action = 0
        self.seq = 0
        self.announced = 0  # numbers on the notice list ahead of the joins
        self.waiting = self.held = self.active = 0
        # Of them, the ones who closed the page: in the room's line or holding a place still.
        self.silent_waiting = self.silent_holding = 0
        self.cap = plan.cap
        self.paused = True
        self.day_index = -1
        self.next_tick: int | None = None
        self.tick_interval = stepping.tick_ms
        self.order = 0
        self.calls = dict.fromkeys(("join", "enter", "finish", "leave", "tick", "other"), 0)
        self.at_close: dict[int, tuple[int, int]] = {}
        self.shut_out = 0
        self.steps = 0
        last = self.days[-1].intervals[-1][1]
        self.deadline_ms = last

    # --- the calendar -------------------------------------------------------------

    def _calendar_actions(self) -> list[tuple[int, int, int]]:
        """(time, OPEN / CLOSE, day index), in time order; the deadline does not pause: the
        room serves its queue to the end, and only new joins are refused."""
        actions = []
        for day in self.days:
            for start, end in day.intervals:
                actions.append((start, OPEN, day.index))
                actions.append((end, CLOSE, day.index))
        actions.sort()
        actions[-1] = (actions[-1][0], DEADLINE, actions[-1][2])
        return actions

    async def _apply_calendar(self, now: int) -> None:
        first = self.next_action == 0
        while self.next_action < len(self.actions) and self.actions[self.next_action][0] <= now:
            _, kind, index = self.actions[self.next_action]
            self.next_action += 1
            if kind == OPEN:
                self.day_index = index
                self.cap = self.plan.cap_on(self.days[index])
                await self.room.update_config(paused=False, max_active=self.cap)
                self.paused = False
                if first:
                    await self.room.seal_prequeue()
                    first = False
            else:
                self.at_close[index] = (self.waiting - self.silent_waiting,
                                        self.held - self.silent_holding + self.active)
                if kind == CLOSE:
                    await self.room.update_config(paused=True)
                    self.paused = True
            self.calls["other"] += 1
            self.tick_interval = self.stepping.tick_ms

    # --- the run --------------------------------------------------------------------

    def _schedule(self, when: int, kind: int, number: int) -> None:
        self.order += 1
        heapq.heappush(self.events, (when, self.order, kind, number))

    async def run(self) -> SimResult:
        """Replay the whole window and what follows it, until the room is empty."""
        days = self.days
        opens_at = days[0].intervals[0][0] // 1000
        await self.room.ensure_config(self.plan.config(opens_at, -(-self.deadline_ms // 1000)))
        horizon = self.deadline_ms + self.stepping.horizon_days * DAY_MS
        now: int | None = self.actions[0][0]
        while now is not None and now <= horizon:
            self.clock.now_ms = now
            await self._step(now)
            self.steps += 1
            if self.observer is not None:
                await self.observer(self, now)
            now = self._next_time(now)
        end = self.clock.now_ms
        # One last sweep, so the room's counters include the lapses it had not swept yet.
        await self.room.tick()
        await self._take_admissions(end)
        return SimResult(self.visits, self.population.persons, self.deadline_ms, end,
                         self.at_close, self.shut_out, self.steps, self.calls,
                         await self._room_counters())

    async def _room_counters(self) -> dict[str, int]:
        """The room's own counters (its stats hash), to check the account against."""
        raw = await self.room.client.hgetall(self.room.keys.key("stats"))
        counters = {}
        for key, value in raw.items():
            text = value.decode() if isinstance(value, bytes) else str(value)
            if text.lstrip("-").isdigit():
                counters[key.decode() if isinstance(key, bytes) else str(key)] = int(text)
        return counters

    def _next_time(self, now: int) -> int | None:
        grid = self.stepping.event_ms
        candidates = []
        # Give-ups of visitors let in meanwhile and deadlines of claims made are no reason
        # for a step: drop them from the fronts of their queues.
        while self.give_ups and self.visits.stage[self.give_ups[0][1]] != WAITING:
            heapq.heappop(self.give_ups)
        while self.claims and not self.holding[self.claims[0][1]]:
            heapq.heappop(self.claims)
        if self.events:
            candidates.append(self.events[0][0])
        if self.give_ups:
            candidates.append(self.give_ups[0][0])
        if self.next_arrival < len(self.arrivals):
            candidates.append(self.arrivals[self.next_arrival].at_ms)
        if self.next_action < len(self.actions):
            candidates.append(self.actions[self.next_action][0])
        if self.claims:
            candidates.append(self.claims[0][0])
        stepped = [-(-when // grid) * grid for when in candidates]
        if self.next_tick is not None:
            stepped.append(self.next_tick)
        return max(now + 1, min(stepped)) if stepped else None

    async def _step(self, now: int) -> None:
        await self._apply_calendar(now)
        due: dict[int, list[int]] = {ENTER: [], FINISH: [], GIVE_UP: [], RETURN: []}
        while self.events and self.events[0][0] <= now:
            _, _, kind, number = heapq.heappop(self.events)
            due[kind].append(number)
        while self.give_ups and self.give_ups[0][0] <= now:
            due[GIVE_UP].append(heapq.heappop(self.give_ups)[1])
        self._lapse(now)
        joining = [(person, False) for person in due[RETURN]]
        while (self.next_arrival < len(self.arrivals)
               and self.arrivals[self.next_arrival].at_ms <= now):
            arrival = self.arrivals[self.next_arrival]
            joining.append((arrival.person, arrival.booked))
            self.next_arrival += 1
        if joining:
            await self._announce(len(joining))
        # Claims of lapsed admissions are not made: the room would refuse them, or take them
        # at the very millisecond of the deadline before a sweep, depending on order.
        entering = [n for n in due[ENTER] if self.visits.stage[n] == ADMITTED]
        was_waiting = self.waiting > 0
        leaving = self._give_up(now, due[GIVE_UP])
        ticking = self._tick_due(now)
        # One step's calls go out together (the room's scripts are pipelined); they all run
        # at the same simulated instant, claims first, then ends, give-ups and joins.
        replies = await asyncio.gather(
            *(self.room.enter(n) for n in entering),
            *(self.room.finish(self.sessions[n]) for n in due[FINISH]),
            *(self.room.leave(n) for n in leaving),
            *(self.room.join(booked=booked) for _, booked in joining),
            *([self.room.tick()] if ticking else []),
            return_exceptions=True)
        cut = [len(entering), len(due[FINISH]), len(leaving), len(joining)]
        marks = [sum(cut[:i]) for i in range(5)]
        self._entered(now, entering, replies[marks[0]:marks[1]])
        self._finished(now, due[FINISH], replies[marks[1]:marks[2]])
        self._left(leaving, replies[marks[2]:marks[3]])
        still_waiting = self._joined(now, joining, replies[marks[3]:marks[4]])
        # Only someone in line can be let in by another's call; admissions at one's own
        # join are in the join's reply. Otherwise the due list need not be read now.
        admitted = 0
        if (was_waiting or still_waiting) and (due[FINISH] or joining or ticking):
            admitted = await self._take_admissions(now)
        if due[FINISH] or leaving or joining:
            self.tick_interval = self.stepping.tick_ms
        if ticking:
            tick = replies[-1]
            if isinstance(tick, BaseException):
                raise tick
            self.calls["tick"] += 1
            self._ticked(now, admitted)

    # --- what visitors do ------------------------------------------------------------

    def _lapse(self, now: int) -> None:
        """Admissions at or past their claim deadline free their place (the room sweeps)."""
        visits = self.visits
        while self.claims and self.claims[0][0] <= now:
            _, number = heapq.heappop(self.claims)
            if not self.holding[number]:
                continue
            self.holding[number] = 0
            self.held -= 1
            if visits.stage[number] == SILENT:
                self.silent_holding -= 1
            elif visits.stage[number] == ADMITTED:
                visits.stage[number] = LAPSED
                visits.done[number] = now
                self._maybe_return(now, visits.person[number])

    def _entered(self, now: int, numbers: list[int], grants: Sequence[object]) -> None:
        visits = self.visits
        self.calls["enter"] += len(numbers)
        longest = self.plan.session_ttl_seconds * 950
        for number, grant in zip(numbers, grants, strict=True):
            if isinstance(grant, BaseException):
                raise grant
            if not isinstance(grant, SessionGrant):
                raise RuntimeError(f"the room refused claim {number} before its deadline")
            visits.stage[number] = ACTIVE
            visits.entered[number] = now
            self.holding[number] = 0
            self.held -= 1
            self.active += 1
            self.sessions[number] = grant.session_id
            self._schedule(now + self.behaviour.session_ms(
                self.rng, self.plan.expected_session_minutes, longest), FINISH, number)

    def _finished(self, now: int, numbers: list[int], live: Sequence[object]) -> None:
        visits = self.visits
        self.calls["finish"] += len(numbers)
        for number, alive in zip(numbers, live, strict=True):
            if isinstance(alive, BaseException):
                raise alive
            if alive is not True:
                raise RuntimeError(f"the room had ended session {number} the account holds")
            del self.sessions[number]
            visits.stage[number] = SERVED
            visits.done[number] = now
            self.active -= 1

    def _give_up(self, now: int, numbers: list[int]) -> list[int]:
        """Who gives up now: the ones who leave the queue (the rest just close the page)."""
        visits = self.visits
        leaving = []
        for number in numbers:
            if visits.stage[number] != WAITING:
                continue  # let in meanwhile
            visits.done[number] = now
            if self.rng.random() < self.behaviour.silent_share:
                self._go_silent(number)
            else:
                visits.stage[number] = LEFT
                leaving.append(number)
            self._maybe_return(now, visits.person[number])
        return leaving

    def _go_silent(self, number: int) -> None:
        self.visits.stage[number] = SILENT  # the place lapses when reached
        self.silent_waiting += 1

    def _left(self, numbers: list[int], left: Sequence[object]) -> None:
        self.calls["leave"] += len(numbers)
        for number, was_waiting in zip(numbers, left, strict=True):
            if isinstance(was_waiting, BaseException):
                raise was_waiting
            if was_waiting is True:
                self.waiting -= 1
            else:
                # Let in by a call of the same instant that ran first: the visitor is gone
                # all the same, and the place lapses.
                self._go_silent(number)

    def _maybe_return(self, now: int, person: int) -> None:
        """Someone who did not get through comes back on a later open day, perhaps."""
        if self.rng.random() >= self.behaviour.retry:
            return
        index = max(self.day_index, 0)
        while index + 1 < len(self.days) and self.days[index + 1].midnight_ms <= now:
            index += 1
        day = draw_day(self.days, self.rng, after=index)
        if day is not None:
            self._schedule(draw_time_ms(day, self.behaviour, self.rng), RETURN, person)

    async def _announce(self, count: int) -> None:
        """Put the next queue numbers on the notice list before they exist, a block at a
        time: whoever lets a visitor in, the admission reaches the due list."""
        if self.seq + count <= self.announced:
            return
        top = self.seq + count + ANNOUNCE_BLOCK
        await self.room.client.sadd(self.room.keys.key("wanted"),
                                    *range(self.announced + 1, top + 1))
        self.calls["other"] += 1
        self.announced = top

    def _joined(self, now: int, joining: list[tuple[int, bool]],
                places: Sequence[object]) -> bool:
        """Record the joins; True when some joiner was not let in at once."""
        visits = self.visits
        count = len(joining)
        self.calls["join"] += count
        visits.resize(self.seq + count)
        self.at_join.extend(bytes(count))
        self.holding.extend(bytes(count))
        joined = 0
        waiting = False
        for (person, booked), place in zip(joining, places, strict=True):
            if isinstance(place, QueueClosed):
                self.shut_out += 1
                continue
            if not isinstance(place, Place):
                raise place if isinstance(place, BaseException) else TypeError(place)
            number = place.number
            if not self.seq < number <= self.seq + count:
                raise RuntimeError(f"queue number {number} was not the simulation's to give")
            joined += 1
            visits.person[number] = person
            visits.booked[number] = booked
            visits.stage[number] = WAITING
            visits.joined[number] = now
            self.waiting += 1
            heapq.heappush(self.give_ups, (now + self.behaviour.patience_ms(self.rng), number))
            if place.state is VisitorState.ADMITTED:
                self.at_join[number] = 1
                self._admit(now, number)
            else:
                waiting = True
        self.seq += joined
        visits.resize(self.seq)
        del self.at_join[self.seq + 1:], self.holding[self.seq + 1:]
        return waiting

    async def _take_admissions(self, now: int) -> int:
        """Pop the room's due list: everyone it let in since the last look."""
        taken = 0
        while True:
            numbers = await self.room.take_due_notices(DUE_BATCH)
            self.calls["other"] += 1
            for number in numbers:
                if self.at_join[number]:
                    continue  # known from its join's reply
                self._admit(now, number)
                taken += 1
            if len(numbers) < DUE_BATCH:
                return taken

    def _admit(self, now: int, number: int) -> None:
        """The room let ``number`` in at ``now``: its place is held until claimed or lapsed."""
        visits = self.visits
        stage = visits.stage[number]
        if stage not in (WAITING, SILENT) or visits.admitted[number] >= 0:
            raise RuntimeError(f"the room let in {number}, not waiting in the account")
        visits.admitted[number] = now
        self.waiting -= 1
        self.holding[number] = 1
        self.held += 1
        heapq.heappush(self.claims, (now + self.plan.claim_window_seconds * 1000, number))
        if stage == SILENT:
            self.silent_waiting -= 1
            self.silent_holding += 1
        else:
            visits.stage[number] = ADMITTED
            delay = self.behaviour.claim_ms(self.rng, at_join=bool(self.at_join[number]))
            self._schedule(now + delay, ENTER, number)

    def _tick_due(self, now: int) -> bool:
        """Whether to tick now: someone waits and a place is free, as the ticker would find."""
        wanted = (not self.paused and self.waiting > 0
                  and self.cap - self.active - self.held > 0)
        if not wanted:
            self.next_tick = None
            return False
        return self.next_tick is None or now >= self.next_tick

    def _ticked(self, now: int, admitted: int) -> None:
        """Every half second while ticks admit; backing off while they admit nobody."""
        if admitted:
            self.tick_interval = self.stepping.tick_ms
        else:
            self.tick_interval = min(self.tick_interval * 2, self.stepping.idle_tick_ms)
        self.next_tick = now + self.tick_interval
