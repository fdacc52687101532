"""The waiting room: async operations on one room's Redis state."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis, RedisCluster

from waitroom.board import make_board, near_positions
from waitroom.config import RoomConfig
from waitroom.eta import ADMITTED_NOW, WaitEstimate, WaitModel, wait_model
from waitroom.keys import NO_PROOF, RoomKeys
from waitroom.opening import with_draw_lock, write_and_seal
from waitroom.position import in_prequeue, queue_position
from waitroom.prequeue import Draw, SortedDraw, draw_of, draws_by_rank, new_seed
from waitroom.scripts import register_scripts
from waitroom.snapshot import RoomSnapshot, _int, read_snapshot
from waitroom.states import VisitorState
from waitroom.waits import WaitHistogram, histogram_of

Clock = Callable[[], float]


# VisitorState by value, looked up without the enum's call (a join and a poll each need one).
_STATES = tuple(VisitorState)


class QueueClosed(Exception):
    """The queue no longer takes new visitors (those already in it are still served)."""


class JoinRateLimited(Exception):
    """The address is past its join bucket: a token is back in ``retry_after`` seconds, or a
    proof of work lets the join through now; ``overage`` is what the address would owe."""

    def __init__(self, retry_after: int, overage: int = 1) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after
        self.overage = overage


class ProofUsed(Exception):
    """The proof given with a join was used already (each is taken once)."""


@dataclass(frozen=True)
class JoinLimit:
    """The per-address join bucket: ``burst`` joins at once, refilled at ``per_minute``."""

    burst: int
    per_minute: int


@dataclass(frozen=True)
class JoinProof:
    """A verified proof that lets a join past the bucket, once: its id, how long it lives,
    and the largest overage its difficulty pays for (-1: any)."""

    proof_id: str
    expires_in_ms: int
    covers: int = -1


class PlaceMoved(Exception):
    """The place was moved to another browser; the one asking no longer holds it."""


@dataclass(frozen=True)
class Place:
    """Where a visitor stands right now."""

    number: int
    state: VisitorState
    position: int
    claim_deadline_ms: int
    is_new: bool = False
    # True while the visitor is in the pre-queue and the order is not drawn yet.
    awaiting_draw: bool = False

    @property
    def public_state(self) -> str:
        """The state name the API shows."""
        return self.state.public


@dataclass(frozen=True)
class SessionGrant:
    """A form session that was just started or extended."""

    session_id: str
    idle_deadline_ms: int
    hard_deadline_ms: int


@dataclass(frozen=True)
class RoomStats:
    """A snapshot of the room for the landing page, the API and the console."""

    waiting: int
    active: int
    admitted_unclaimed: int
    max_active: int
    admit_per_minute: int
    paused: bool
    admitted_total: int
    finished_total: int
    expired_total: int
    estimate_for_new: WaitEstimate | None


class WaitingRoom:
    """One room's queue, admissions and sessions; every change is one Lua call."""

    def __init__(self, client: Redis | RedisCluster, keys: RoomKeys, *,
                 clock: Clock = time.time) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self._keys = keys.all()
        self._scripts = register_scripts(client)
        self._config: RoomConfig | None = None
        self._config_read_at = 0.0
        self._draw: Draw | SortedDraw | None = None
        self.snapshot: RoomSnapshot | None = None
        self._touched: set[int] = set()
        self._model: tuple[RoomSnapshot | None, WaitModel | None] = (None, None)
        self._board: tuple[RoomSnapshot | None, bytes] = (None, b"")

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def ensure_config(self, defaults: RoomConfig) -> None:
        """Write default settings for fields the room does not have yet."""
        async with self.client.pipeline(transaction=True) as pipe:
            for field, value in defaults.to_redis().items():
                pipe.hsetnx(self.keys.key("config"), field, value)
            await pipe.execute()
        self._config = None

    async def config(self, *, max_age: float = 0.5) -> RoomConfig:
        """Return the live settings, read at most ``max_age`` seconds ago."""
        now = time.monotonic()
        if self._config is None or now - self._config_read_at > max_age:
            raw = await self.client.hgetall(self.keys.key("config"))
            self._config = RoomConfig.from_redis(raw)
            self._config_read_at = now
        return self._config

    def last_known_config(self) -> RoomConfig | None:
        """The settings as last read (None before the first read); no Redis call."""
        return self._config

    async def update_config(self, **changes: object) -> RoomConfig:
        """Validate and store changed settings; every process sees them within a second."""
        current = await self.config(max_age=0)
        updated = current.changed(**changes)
        await self.client.hset(
            self.keys.key("config"), mapping=dict(updated.to_redis())  # type: ignore[arg-type]
        )
        self._config = updated
        self._config_read_at = time.monotonic()
        return updated

    async def _place(self, number: int, reply: list[Any], is_new: bool = False) -> Place:
        """Build a Place from a script's reply tail: state, deadline, standing(), lane."""
        state, deadline, head, returning, order_left, sealed, lane = map(_int, (*reply, 0)[:7])
        vstate = _STATES[state] if 0 <= state < len(_STATES) else VisitorState(state)
        awaiting_draw = False
        position = 0
        if vstate is VisitorState.WAITING and lane > 0:
            # A booked visitor in their slot waits only behind the booked ones ahead,
            # never behind the walk-ins.
            position = lane
        elif vstate in (VisitorState.WAITING, VisitorState.SKIPPED):
            if sealed == -1:
                awaiting_draw = True
            else:
                rank = 0
                if in_prequeue(number, sealed):
                    rank = (await self._drawn(sealed)).rank(number)
                position = queue_position(number, head=head, returning=returning,
                                          order_left=order_left, sealed=sealed, rank=rank)
        if vstate is VisitorState.ADMITTED and deadline < self._now_ms():
            vstate = VisitorState.EXPIRED
        return Place(number, vstate, position, deadline, is_new, awaiting_draw)

    async def _drawn(self, sealed: int) -> Draw | SortedDraw:
        # The seed is fixed once sealed: the snapshot's saves a round trip per poll.
        snapshot = self.snapshot
        if snapshot is not None and snapshot.sealed == sealed and snapshot.seed is not None:
            seed = snapshot.seed
        else:
            seed = await self.published_seed() or ""
        return self._draw_for(seed, sealed)

    def _draw_for(self, seed: str, sealed: int) -> Draw | SortedDraw:
        draw = self._draw
        if draw is None or draw.seed != seed or draw.last != sealed:
            draw = self._draw = draw_of(seed, sealed)
        return draw

    def _snapshot_draw(self, snapshot: RoomSnapshot) -> Draw | SortedDraw | None:
        """The snapshot's draw; None when only a draw of an earlier recipe, not yet worked
        out by a poll asking Redis, would tell (building it takes seconds)."""
        seed, draw = snapshot.seed, self._draw
        if seed is None:
            return None
        if draws_by_rank(seed) or (draw is not None and draw.seed == seed
                                   and draw.last == snapshot.sealed):
            return self._draw_for(seed, snapshot.sealed)
        return None

    async def join(
        self,
        identities: Iterable[str] = (),
        *,
        address_hash: str = "",
        limit: JoinLimit | None = None,
        proof: JoinProof | None = None,
        booked: bool = False,
    ) -> Place:
        """Queue a visitor (or find their existing place by identifier hashes).

        A booked visitor present in their slot goes to the priority lane. Joins from
        one address take tokens from its bucket (``limit``); past it, raises
        JoinRateLimited unless a ``proof`` lets the join through (ProofUsed when that
        proof was taken already). Raises QueueClosed after the closing time.
        """
        now_ms = self._now_ms()
        limited = limit is not None and bool(address_hash)
        proof_ms = max(1, proof.expires_in_ms) if proof is not None and limited else 0
        result = await self._scripts.join(
            keys=[*self._keys, self.keys.join_bucket(address_hash or "-"),
                  self.keys.join_proof(proof.proof_id if proof is not None else NO_PROOF)],
            args=[now_ms, limit.burst if limit is not None and limited else 0,
                  limit.per_minute if limit is not None else 0, proof_ms,
                  1 if booked else 0, proof.covers if proof is not None else -1,
                  *identities],
        )
        outcome = _int(result[1])
        if outcome == -1:
            raise JoinRateLimited(max(1, -(-_int(result[3]) // 1000)), _int(result[2]))
        if outcome == -2:
            raise QueueClosed()
        if outcome == -3:
            raise ProofUsed()
        number, state, deadline, fresh = (_int(v) for v in result[:4])
        return await self._place(number, [state, deadline, *result[4:]], is_new=fresh == 1)

    async def lane_turn(self, address_hash: str, *, delay_ms: int, spacing_ms: int,
                        max_wait_ms: int) -> int | None:
        """When the address's next slow-lane turn is due (epoch ms); None when the lane is
        ``max_wait_ms`` long already."""
        due = _int(await self._scripts.lane(
            keys=[*self._keys, self.keys.join_lane(address_hash or "-")],
            args=[self._now_ms(), delay_ms, spacing_ms, max_wait_ms]))
        return None if due < 0 else due

    async def poll(self, number: int) -> Place:
        """Return a visitor's place and record that they are still waiting."""
        reply = await self._scripts.poll(keys=self._keys, args=[self._now_ms(), number])
        return await self._place(number, reply)

    async def enter(self, number: int, browser: str = "") -> SessionGrant | None:
        """Claim an admission and start a form session, or None if there is none to claim.

        ``browser`` is the keyed hash of the claiming browser; raises PlaceMoved when
        the place was moved to another one.
        """
        session_id = secrets.token_urlsafe(18)
        result = await self._scripts.enter(
            keys=self._keys, args=[self._now_ms(), number, session_id, browser]
        )
        if _int(result[0]) != 1:
            if _int(result[1]) == -3:
                raise PlaceMoved(number)
            return None
        return SessionGrant(session_id, _int(result[1]), _int(result[2]))

    async def move(self, number: int, browser: str, identities: Iterable[str] = ()) -> bool:
        """Hand a live place to another browser; False when the place is no longer live.

        From then on only ``browser`` (a keyed hash, the same the join and enter
        calls pass first) finds the place again and may claim it; the browser it
        left joins anew if it tries.
        """
        result = await self._scripts.move(
            keys=self._keys, args=[self._now_ms(), number, browser, browser, *identities])
        return _int(result[0]) == 1

    async def heartbeat(self, session_id: str) -> SessionGrant | None:
        """Extend a live session; None if it is over."""
        idle, hard = await self._scripts.heartbeat(
            keys=self._keys, args=[self._now_ms(), session_id]
        )
        if _int(idle) == 0:
            return None
        return SessionGrant(session_id, _int(idle), _int(hard))

    async def session_alive(self, session_id: str) -> bool:
        """Whether a session still holds its place (not expired, not finished)."""
        score = await self.client.zscore(self.keys.key("active"), session_id)
        return score is not None and score >= self._now_ms()

    async def finish(self, session_id: str) -> bool:
        """End a session and give its place to the next visitor at once."""
        live, _admitted = await self._scripts.finish(
            keys=self._keys, args=[self._now_ms(), session_id]
        )
        return _int(live) == 1

    async def want_notice(self, number: int) -> None:
        """Remember that this visitor wants to be told when their turn opens."""
        await self.client.sadd(self.keys.key("wanted"), number)

    async def take_due_notices(self, limit: int = 500) -> list[int]:
        """Pop the admitted visitors to tell now (each is popped by one process only)."""
        popped = await self.client.lpop(self.keys.key("due"), limit)
        return [_int(n) for n in popped or []]

    async def claim_deadline_ms(self, number: int) -> int | None:
        """When an admitted visitor's place lapses (None when not admitted)."""
        score = await self.client.zscore(self.keys.key("admitted"), number)
        return None if score is None else int(score)

    async def leave(self, number: int) -> bool:
        """Give up a waiting place (e.g. the visitor booked a slot instead)."""
        return _int(await self._scripts.leave(keys=self._keys, args=[self._now_ms(), number])) == 1

    async def tick(self) -> int:
        """Expire what is overdue and admit whoever may come in; returns how many."""
        return _int(await self._scripts.tick(keys=self._keys, args=[self._now_ms()]))

    async def tick_if_leader(self, lock_ms: int = 900) -> int | None:
        """Tick unless another process ticked within ``lock_ms``; None when skipped."""
        token = secrets.token_hex(8)
        if not await self.client.set(self.keys.lock, token, nx=True, px=lock_ms):
            return None
        await self.seal_prequeue()
        return await self.tick()

    async def seal_prequeue(self, seed: str | None = None) -> bool:
        """At opening, draw and fix the pre-queue's order once; True when sealed now.

        ``seed`` is drawn here unless given (a test choosing its draw).
        """
        config = await self.config()
        if not config.opens_at or self.clock() < config.opens_at:
            return False
        return await with_draw_lock(self.client, self.keys, lambda: self._draw_and_seal(seed))

    async def _draw_and_seal(self, seed: str | None) -> bool:
        stats_key = self.keys.key("stats")
        for _attempt in range(5):
            sealed, last = await self.client.hmget(stats_key, ["prequeue_sealed", "prequeue_last"])
            if sealed is not None:
                return False
            result = await write_and_seal(self.client, self.keys, self._scripts.seal,
                                          self._keys, seed or new_seed(), _int(last, 0),
                                          self._now_ms)
            if result >= 0:
                return result == 1
        return False

    async def published_seed(self) -> str | None:
        """The pre-queue seed, published once the order is sealed (None before)."""
        raw = await self.client.hget(self.keys.key("stats"), "prequeue_seed")
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def set_booked_expected(self, count: int) -> None:
        """Tell the room how many booked visitors are due in the current slot."""
        await self.client.hset(self.keys.key("stats"), "booked_expected", max(0, count))

    async def admission_waits(self) -> WaitHistogram:
        """How long the visitors admitted so far waited, as the room counted them (one read)."""
        return histogram_of(await self.client.hgetall(self.keys.key("waits")))

    async def refresh(self) -> RoomSnapshot:
        """Read the room's snapshot now (one round trip) and keep it for fast answers."""
        snapshot = await read_snapshot(self.client, self.keys, time.monotonic(), self._now_ms())
        self.snapshot = snapshot
        self._config, self._config_read_at = snapshot.config, snapshot.taken_at
        return snapshot

    async def current(self, max_age: float = 0.5) -> RoomSnapshot:
        """The snapshot, read again when older than ``max_age`` seconds."""
        snapshot = self.snapshot
        if snapshot is None or time.monotonic() - snapshot.taken_at > max_age:
            snapshot = await self.refresh()
        return snapshot

    def poll_from_snapshot(self, number: int, *, max_age: float = 1.0) -> Place | None:
        """Answer a poll from the snapshot when that is exact enough, else None.

        Exact enough: the visitor is further back than the next ``max_active``
        places and holds no place out of queue order, so they are certainly still
        waiting and their position moved at most half a second ago. The poll is
        recorded and sent to Redis with the others of this process in one batch.
        """
        found = self.follow_from_snapshot(number, max_age=max_age)
        return None if found is None else Place(number, VisitorState.WAITING, found[0], 0)

    def follow_from_snapshot(self, number: int, *,
                             max_age: float = 1.0) -> tuple[int, int | None] | None:
        """The position of a visitor ``poll_from_snapshot`` answers for, and how their page
        may follow the board (``follow_rank``, worked out from the same look); None when
        only Redis can tell. The visitor is marked as still here."""
        snapshot = self.snapshot
        if snapshot is None or time.monotonic() - snapshot.taken_at > max_age:
            return None
        if number > snapshot.seq:
            return None
        rank = self._snapshot_rank(snapshot, number)
        if rank is None:
            return None
        if rank:
            if rank <= snapshot.sealed - snapshot.order_left:
                return None  # already taken from the order: no longer waiting there
        elif number < snapshot.head:
            return None
        position = queue_position(number, head=snapshot.head, returning=snapshot.returning,
                                  order_left=snapshot.order_left, sealed=snapshot.sealed,
                                  rank=rank)
        config = snapshot.config
        if position <= config.max_active:
            return None  # near the front: ask Redis for the exact state
        self._touched.add(number)
        if position <= near_positions(config.max_active, config.admit_per_minute):
            return position, None
        return position, rank

    def board(self, *, max_age: float = 1.0) -> bytes | None:
        """The board (``waitroom.board``) of the snapshot, encoded once per snapshot; None
        without a snapshot at most ``max_age`` seconds old."""
        snapshot = self.snapshot
        if snapshot is None or time.monotonic() - snapshot.taken_at > max_age:
            return None
        cached = self._board
        if cached[0] is not snapshot:
            elapsed = max(0.0, time.monotonic() - snapshot.taken_at)

            def estimate(position: int) -> tuple[int, int] | None:
                wait = self.estimate_from(snapshot, position, elapsed)
                return None if wait is None else (wait.low_seconds, wait.high_seconds)

            config = snapshot.config
            board = make_board(
                as_of_ms=snapshot.reading.now_ms, head=snapshot.head, seq=snapshot.seq,
                returning=snapshot.returning, order_left=snapshot.order_left,
                sealed=snapshot.sealed, max_active=config.max_active,
                admit_per_minute=config.admit_per_minute, estimate=estimate,
                seed=snapshot.seed if draws_by_rank(snapshot.seed) else None)
            cached = self._board = (snapshot, board.as_json())
        return cached[1]

    def follow_rank(self, number: int, position: int) -> int | None:
        """How a waiting visitor at ``position`` may follow the board instead of asking
        for their own place: their rank in the pre-queue's draw (0 for a walk-in), or
        None when they are near the front or the snapshot cannot tell."""
        snapshot = self.snapshot
        if snapshot is None:
            return None
        config = snapshot.config
        if position <= near_positions(config.max_active, config.admit_per_minute):
            return None
        return self._snapshot_rank(snapshot, number)

    def _snapshot_rank(self, snapshot: RoomSnapshot, number: int) -> int | None:
        """A visitor's rank in the draw as the snapshot tells it (0 for a walk-in); None
        when only Redis can tell: before the draw, for one holding a place or waiting in
        the booked lane, or while an earlier recipe's draw is not worked out."""
        if snapshot.sealed < 0 or number in snapshot.holders or number in snapshot.lane:
            return None
        if not in_prequeue(number, snapshot.sealed):
            return 0
        draw = self._snapshot_draw(snapshot)
        return None if draw is None else draw.rank(number)

    async def flush_touches(self) -> int:
        """Send the polls answered from the snapshot to Redis, so nobody looks stale."""
        if not self._touched:
            return 0
        numbers, self._touched = sorted(self._touched), set()
        touched = 0
        for start in range(0, len(numbers), 5000):
            touched += _int(await self._scripts.touch(
                keys=self._keys, args=[self._now_ms(), *numbers[start:start + 5000]]))
        return touched

    async def stats(self, max_age: float = 0.5) -> RoomStats:
        """Return a snapshot of the room, at most ``max_age`` seconds old."""
        snapshot = await self.current(max_age)
        config = snapshot.config
        waiting = max(0, snapshot.stat("waiting"))
        estimate = self.estimate_from(snapshot, waiting + 1)
        return RoomStats(
            waiting=waiting,
            active=snapshot.active,
            admitted_unclaimed=snapshot.admitted,
            max_active=config.max_active,
            admit_per_minute=config.admit_per_minute,
            paused=config.paused,
            admitted_total=snapshot.stat("admitted_total"),
            finished_total=snapshot.stat("finished_total"),
            expired_total=snapshot.stat("expired_total"),
            estimate_for_new=estimate,
        )

    def estimate_from(self, snapshot: RoomSnapshot, position: int,
                      elapsed_s: float = 0.0) -> WaitEstimate | None:
        """Estimate the wait at ``position`` in a snapshot read ``elapsed_s`` seconds ago
        (None: paused, not open)."""
        if position <= 0:
            return ADMITTED_NOW
        model = self._wait_model(snapshot)
        return None if model is None else model.estimate(position, elapsed_s)

    def _wait_model(self, snapshot: RoomSnapshot) -> WaitModel | None:
        cached = self._model
        if cached[0] is not snapshot:  # once per snapshot, not once per poll
            cached = self._model = (snapshot, wait_model(snapshot.reading))
        return cached[1]

    async def estimate_for(self, position: int, number: int = 0) -> WaitEstimate | None:
        """Estimate the wait for a visitor at ``position`` now (snapshot at most 1 s old).

        The position comes fresh from Redis, the snapshot is older: a walk-in's queue
        ``number`` gives the position they had when the snapshot was read, which is
        what its model is about, and the time since then comes off.
        """
        snapshot = await self.current(max_age=1.0)
        if position <= 0:
            return ADMITTED_NOW
        if number >= snapshot.head and snapshot.sealed >= 0 \
                and not in_prequeue(number, snapshot.sealed) and number not in snapshot.holders \
                and number not in snapshot.lane:
            then = queue_position(number, head=snapshot.head, returning=snapshot.returning,
                                  order_left=snapshot.order_left, sealed=snapshot.sealed)
            if then >= position:
                position = then
        return self.estimate_from(snapshot, position,
                                  max(0.0, time.monotonic() - snapshot.taken_at))
