"""A room simulated event by event, as the Lua scripts run it, with visitors as the portal
tells them to behave (``bench.eta`` measures the wait estimates on it).

The room's rules are those of ``waitroom/lua/_lib.lua``: a place is free while
admitted + active stays under the cap; booked visitors present go first (within
their share), places expected for booked visitors are held back, then walk-ins
in queue order, skipping those gone stale; a token bucket paces admissions.
Visitors poll as ``poll_after_ms`` says, enter at the poll that shows their turn
(a visitor admitted by their own join enters at once), and end their session
after a while; some give up waiting, by leaving or by closing the page.

The estimators see what a portal process sees: a snapshot every half second,
the same values ``waitroom.snapshot.read_snapshot`` reads from Redis.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from waitroom.eta import poll_after_ms
from waitroom.snapshot import SHARE_WINDOW, SINCE_SAMPLE

WAITING, SKIPPED, ADMITTED, ACTIVE, FINISHED, EXPIRED, LEFT = 1, 2, 3, 4, 5, 6, 7
LATENCY_MS = 15  # one request's round trip
SNAPSHOT_MS = 500  # the upkeep loop: snapshot, then tick, every half second


@dataclass
class Settings:
    """The live settings a phase can change (the room's config hash)."""

    max_active: int = 7
    admit_per_minute: int = 6000
    session_minutes: float = 0.01  # the plan: what the form is expected to take
    booked_share: float = 0.0
    booked_expected: int = 0
    stale_after_s: int = 0
    claim_s: int = 30
    paused: bool = False


@dataclass
class Visitor:
    """One visitor's story."""

    number: int
    joined_ms: int
    booked: bool
    gives_up_ms: int | None  # when they stop waiting (None: never)
    silent: bool  # gives up by closing the page rather than leaving
    session_ms: int
    position: int = 0
    admitted_ms: int | None = None
    estimates: dict[str, object] = field(default_factory=dict)
    admitted_at_join: int = 0  # admissions the room had made when they joined
    gone: bool = False


class SimRoom:
    """The room's state and scripts (``_lib.lua``), driven by a clock in milliseconds."""

    def __init__(self, settings: Settings) -> None:
        self.cfg = settings
        self.marks: dict[int, list[int]] = {}  # number -> [state, last seen s]
        self.seq = 0
        self.head = 1
        self.admitted: dict[int, int] = {}  # number -> claim deadline
        self.sessions: dict[int, int] = {}  # number -> when the session began
        self.priority: deque[int] = deque()
        self.booked: set[int] = set()
        self.bucket: tuple[float, int] | None = None
        self.outflow: deque[int] = deque(maxlen=1000)  # newest first
        self.since: dict[int, int] = {}
        self.held: deque[tuple[int, int, int, bool]] = deque(maxlen=200)
        self.stats: dict[str, int] = {}
        self.on_admit: Callable[[int, int], None] = lambda number, now: None

    def _incr(self, name: str, by: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + by

    # --- what the prelude's helpers do -------------------------------------

    def _free_place(self, n: int, now: int, session_ms: int) -> None:
        since = self.since.pop(n, None)
        if since is not None:
            held = now - abs(since)
            self.held.appendleft((now, held, min(session_ms, held), since < 0))

    def _expire_overdue(self, now: int) -> None:
        for n in [n for n, deadline in self.admitted.items() if deadline <= now]:
            del self.admitted[n]
            self.booked.discard(n)
            self.marks[n][0] = EXPIRED
            self._free_place(n, now, -1)
            self._incr("unclaimed_total")

    def _admit_one(self, n: int, now: int) -> None:
        self.marks[n] = [ADMITTED, now // 1000]
        self.admitted[n] = now + self.cfg.claim_s * 1000
        self.outflow.appendleft(now)
        self.since[n] = now
        self.on_admit(n, now)

    def _pop_waiting(self, lane: deque[int], counts: list[int]) -> int | None:
        while lane:
            n = lane.popleft()
            counts[0] += 1
            if self.marks[n][0] == WAITING:
                return n
        return None

    def _admit_from_list(self, lane: deque[int], count: int, now: int, booked: bool,
                         counts: list[int]) -> int:
        admitted = 0
        while admitted < count:
            n = self._pop_waiting(lane, counts)
            if n is None:
                break
            self._admit_one(n, now)
            if booked:
                self.booked.add(n)
            admitted += 1
        return admitted

    def _admit_walk_ins(self, count: int, now: int, counts: list[int]) -> tuple[int, int]:
        admitted = scanned = skipped = 0
        stale = self.cfg.stale_after_s
        while admitted < count and self.head <= self.seq and scanned < 1000:
            state, seen = self.marks[self.head]
            if state == WAITING:
                if stale > 0 and now // 1000 - seen > stale:
                    self.marks[self.head][0] = SKIPPED
                    skipped += 1
                else:
                    self._admit_one(self.head, now)
                    admitted += 1
            self.head += 1
            scanned += 1
        counts[0] += scanned
        return admitted, skipped

    def _tokens(self, now: int) -> float:
        rate = self.cfg.admit_per_minute
        burst = max(1, math.ceil(rate / 6))
        tokens, ts = self.bucket if self.bucket is not None else (float(burst), now)
        return min(burst, tokens + max(0, now - ts) * rate / 60000)

    def _count(self, admitted: int, skipped: int, counts: list[int], taken: int) -> None:
        if admitted > 0:
            self._incr("admitted_total", admitted)
        self._incr("waiting", -(admitted + skipped))
        if counts[0] == 0:
            return
        # the recent share count_share() in _lib.lua keeps, halved past a window
        seen = self.stats.get("walk_seen", 0) + counts[0]
        took = self.stats.get("walk_taken", 0) + taken
        if seen > 2 * SHARE_WINDOW:
            seen, took = seen // 2, took // 2
        self.stats.update(walk_seen=seen, walk_taken=took)

    def admit_next(self, now: int, skip_sweep: bool = False) -> int:
        if not skip_sweep:
            self._expire_overdue(now)
        cfg = self.cfg
        if cfg.paused:
            return 0
        free = cfg.max_active - len(self.sessions) - len(self.admitted)
        if free <= 0:
            return 0
        tokens = self._tokens(now)
        allowed = min(free, math.floor(tokens))
        reserve = math.ceil(cfg.booked_share * cfg.max_active)
        counts = [0]
        booked_admitted = self._admit_from_list(
            self.priority, min(allowed, reserve - len(self.booked)), now, True, [0])
        admitted = booked_admitted
        held = max(0, min(reserve, cfg.booked_expected) - len(self.booked))
        walk_in_allowed = min(allowed, max(admitted, free - held))
        walked, skipped = self._admit_walk_ins(walk_in_allowed - admitted, now, counts)
        admitted += walked
        self._count(admitted, skipped, counts, walked)
        self.bucket = (tokens - admitted, now)
        return admitted

    # --- the verbs ------------------------------------------------------------

    def join(self, now: int, booked: bool) -> int:
        self.seq += 1
        n = self.seq
        self.marks[n] = [WAITING, now // 1000]
        self._incr("waiting")
        if booked:
            self.priority.append(n)
        self.admit_next(now, skip_sweep=True)
        if self.marks[n][0] == ADMITTED:
            self.since[n] = -now  # admitted by their own join: no claim delay
        return n

    def position(self, n: int) -> int:
        return max(1, n - self.head + 1)

    def poll(self, now: int, n: int) -> int:
        mark = self.marks[n]
        if mark[0] == WAITING:
            mark[1] = now // 1000
        return mark[0]

    def enter(self, now: int, n: int) -> bool:
        deadline = self.admitted.get(n)
        if deadline is None or deadline < now:
            return False
        del self.admitted[n]
        self.sessions[n] = now
        self.marks[n][0] = ACTIVE
        return True

    def finish(self, now: int, n: int) -> None:
        if n in self.sessions:
            began = self.sessions.pop(n)
            self.booked.discard(n)
            self.marks[n][0] = FINISHED
            self._free_place(n, now, now - began)
        self.admit_next(now)

    def leave(self, now: int, n: int) -> None:
        if self.marks[n][0] == WAITING:
            self.marks[n][0] = LEFT
            self._incr("waiting", -1)

    def since_sample(self, rng: random.Random) -> tuple[int, ...]:
        """HRANDFIELD since SINCE_SAMPLE WITHVALUES: every value, or a random sample."""
        values = list(self.since.values())
        if len(values) > SINCE_SAMPLE:
            values = rng.sample(values, SINCE_SAMPLE)
        return tuple(values)


class Clock:
    """The event queue: callbacks at times in milliseconds, in order."""

    def __init__(self) -> None:
        self.now = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0

    def at(self, when: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (max(when, self.now), self._seq, action))

    def run_until(self, end: int) -> None:
        while self._queue and self._queue[0][0] <= end:
            when, _, action = heapq.heappop(self._queue)
            self.now = when
            action()
        self.now = end


class Crowd:
    """The visitors of one run: they join, poll, enter, finish, and some give up."""

    def __init__(self, room: SimRoom, clock: Clock, rng: random.Random,
                 on_join: Callable[[Visitor], None]) -> None:
        self.room = room
        self.clock = clock
        self.rng = rng
        self.on_join = on_join
        self.visitors: dict[int, Visitor] = {}
        room.on_admit = self._admitted

    def _admitted(self, number: int, now: int) -> None:
        visitor = self.visitors.get(number)
        if visitor is not None:
            visitor.admitted_ms = now

    def arrive(self, *, booked: bool = False, give_up_after_ms: int | None = None,
               silent: bool = False) -> None:
        room, now = self.room, self.clock.now
        number = room.seq + 1
        visitor = Visitor(number, now, booked,
                          None if give_up_after_ms is None else now + give_up_after_ms,
                          silent, self.rng.randint(400, 800),
                          admitted_at_join=room.stats.get("admitted_total", 0))
        self.visitors[number] = visitor
        assert room.join(now, booked) == number
        visitor.position = room.position(number)
        self.on_join(visitor)
        if room.marks[number][0] == ADMITTED:
            self.clock.at(now + LATENCY_MS, lambda: self._enter(visitor))
            return
        self._next_poll(visitor)
        if visitor.gives_up_ms is not None:
            self.clock.at(visitor.gives_up_ms, lambda: self._give_up(visitor))

    def _next_poll(self, visitor: Visitor) -> None:
        position = self.room.position(visitor.number)
        wait = poll_after_ms(position, rng=self.rng)
        self.clock.at(self.clock.now + wait, lambda: self._poll(visitor))

    def _poll(self, visitor: Visitor) -> None:
        if visitor.gone:
            return
        state = self.room.poll(self.clock.now, visitor.number)
        if state == WAITING:
            self._next_poll(visitor)
        elif state == ADMITTED:
            self.clock.at(self.clock.now + LATENCY_MS, lambda: self._enter(visitor))

    def _give_up(self, visitor: Visitor) -> None:
        if self.room.marks[visitor.number][0] != WAITING:
            return
        visitor.gone = True
        if not visitor.silent:
            self.room.leave(self.clock.now, visitor.number)

    def _enter(self, visitor: Visitor) -> None:
        if self.room.enter(self.clock.now, visitor.number):
            self.clock.at(self.clock.now + visitor.session_ms,
                          lambda: self.room.finish(self.clock.now, visitor.number))
