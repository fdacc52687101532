"""The waiting room: async operations on one room's Redis state."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from waitroom.config import RoomConfig
from waitroom.eta import WaitEstimate, estimate_wait
from waitroom.keys import RoomKeys
from waitroom.scripts import register_scripts
from waitroom.states import VisitorState

Clock = Callable[[], float]


class JoinRateLimited(Exception):
    """Too many joins from one address; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Place:
    """Where a visitor stands right now."""

    number: int
    state: VisitorState
    position: int
    claim_deadline_ms: int
    is_new: bool = False

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


def _int(value: object, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bytes):
        value = value.decode()
    return int(float(str(value)))


class WaitingRoom:
    """One room's queue, admissions and sessions; every change is one Lua call."""

    def __init__(self, client: Redis, keys: RoomKeys, *, clock: Clock = time.time) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self._keys = keys.all()
        self._scripts = register_scripts(client)
        self._config: RoomConfig | None = None
        self._config_read_at = 0.0

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

    def _place(self, number: int, state: int, head: int, deadline: int, returning: int = 0,
               is_new: bool = False) -> Place:
        vstate = VisitorState(state)
        if vstate in (VisitorState.WAITING, VisitorState.SKIPPED):
            # Returning visitors are served first; everyone else by number.
            position = max(1, number - head + 1 + returning) if number >= head else 1
        else:
            position = 0
        if vstate is VisitorState.ADMITTED and deadline < self._now_ms():
            vstate = VisitorState.EXPIRED
        return Place(number, vstate, position, deadline, is_new)

    async def join(
        self, identities: Iterable[str] = (), *, address_hash: str = "", limit_per_minute: int = 0
    ) -> Place:
        """Queue a visitor (or find their existing place by identifier hashes).

        Raises JoinRateLimited when the address joined more than ``limit_per_minute``
        times this minute.
        """
        now_ms = self._now_ms()
        limit_key = self.keys.join_limit(address_hash or "-", now_ms // 60_000)
        result = await self._scripts.join(
            keys=[*self._keys, limit_key],
            args=[now_ms, limit_per_minute if address_hash else 0, *identities],
        )
        if _int(result[1]) == -1:
            raise JoinRateLimited(60 - (now_ms // 1000) % 60)
        number, state, deadline, fresh, head = result
        return self._place(_int(number), _int(state), _int(head), _int(deadline), is_new=fresh == 1)

    async def poll(self, number: int) -> Place:
        """Return a visitor's place and record that they are still waiting."""
        state, head, deadline, returning = await self._scripts.poll(
            keys=self._keys, args=[self._now_ms(), number]
        )
        return self._place(number, _int(state), _int(head), _int(deadline), _int(returning))

    async def enter(self, number: int) -> SessionGrant | None:
        """Claim an admission and start a form session, or None if there is none to claim."""
        session_id = secrets.token_urlsafe(18)
        result = await self._scripts.enter(
            keys=self._keys, args=[self._now_ms(), number, session_id]
        )
        if _int(result[0]) != 1:
            return None
        return SessionGrant(session_id, _int(result[1]), _int(result[2]))

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

    async def tick(self) -> int:
        """Expire what is overdue and admit whoever may come in; returns how many."""
        return _int(await self._scripts.tick(keys=self._keys, args=[self._now_ms()]))

    async def tick_if_leader(self, lock_ms: int = 900) -> int | None:
        """Tick unless another process ticked within ``lock_ms``; None when skipped."""
        token = secrets.token_hex(8)
        if not await self.client.set(self.keys.lock, token, nx=True, px=lock_ms):
            return None
        return await self.tick()

    async def stats(self) -> RoomStats:
        """Return a snapshot of the room."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.key("stats"))
            pipe.zcard(self.keys.key("active"))
            pipe.zcard(self.keys.key("admitted"))
            pipe.lrange(self.keys.key("outflow"), 0, 999)
            raw, active, admitted, outflow = await pipe.execute()
        config = await self.config()

        def stat(name: str) -> int:
            return _int(raw.get(name.encode(), raw.get(name)), 0)

        waiting = max(0, stat("waiting"))
        estimate = estimate_wait(
            waiting + 1,
            max_active=config.max_active,
            admit_per_minute=config.admit_per_minute,
            session_minutes=config.expected_session_minutes,
            admission_times_ms=[_int(t) for t in outflow],
            now_ms=self._now_ms(),
            paused=config.paused,
        )
        return RoomStats(
            waiting=waiting,
            active=_int(active),
            admitted_unclaimed=_int(admitted),
            max_active=config.max_active,
            admit_per_minute=config.admit_per_minute,
            paused=config.paused,
            admitted_total=stat("admitted_total"),
            finished_total=stat("finished_total"),
            expired_total=stat("expired_total"),
            estimate_for_new=estimate,
        )

    async def estimate_for(self, position: int) -> WaitEstimate | None:
        """Estimate the wait for a visitor at ``position``."""
        config = await self.config()
        outflow = await self.client.lrange(self.keys.key("outflow"), 0, 999)
        return estimate_wait(
            position,
            max_active=config.max_active,
            admit_per_minute=config.admit_per_minute,
            session_minutes=config.expected_session_minutes,
            admission_times_ms=[_int(t) for t in outflow],
            now_ms=self._now_ms(),
            paused=config.paused,
        )
