"""The automatic cap: additive increase while the form is fast, multiplicative decrease not."""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from portal.admin.latency import percentile, recent_latencies
from portal.i18n import N_
from portal.keys import PortalKeys
from scheduler.text import Message
from waitroom.config import MAX_ACTIVE_LIMIT, decode_hash, encode_hash
from waitroom.room import WaitingRoom

KEEP_DECISIONS = 500


@dataclass(frozen=True)
class AutoCapConfig:
    """The operator's bounds and target for the automatic cap."""

    enabled: bool = False
    min_cap: int = 10
    max_cap: int = 1000
    target_p95_ms: int = 1500
    increase: int = 5
    decrease_factor: float = 0.7
    interval_seconds: int = 10
    min_samples: int = 5

    def validate(self) -> dict[str, str]:
        """Return field -> message for every bad value (empty when all are fine)."""
        errors: dict[str, str] = {}
        if self.min_cap < 1:
            errors["min_cap"] = N_("Batas bawah minimal 1.")
        if self.max_cap < self.min_cap:
            errors["max_cap"] = N_("Batas atas tidak boleh di bawah batas bawah.")
        elif self.max_cap > MAX_ACTIVE_LIMIT:
            # The cap it sets must pass the room's own range.
            errors["max_cap"] = Message(N_("Batas atas paling banyak %(high)s."),
                                        high=MAX_ACTIVE_LIMIT)
        if self.target_p95_ms < 50:
            errors["target_p95_ms"] = N_("Target minimal 50 ms.")
        if self.increase < 1:
            errors["increase"] = N_("Penambahan minimal 1.")
        if not 0.1 <= self.decrease_factor < 1:
            errors["decrease_factor"] = N_("Faktor pengurangan antara 0,1 dan 1.")
        if not 1 <= self.interval_seconds <= 3600:
            errors["interval_seconds"] = N_("Selang keputusan 1-3600 detik.")
        if self.min_samples < 1:
            errors["min_samples"] = N_("Minimal 1 sampel.")
        return errors

    @classmethod
    def from_redis(cls, raw: dict[Any, Any]) -> AutoCapConfig:
        """Decode the stored hash; unreadable fields keep their defaults."""
        return cls(**decode_hash(cls, raw))

    def to_redis(self) -> dict[str, str]:
        """Encode as a flat string hash."""
        return encode_hash(self)



@dataclass(frozen=True)
class Decision:
    """One step of the automatic cap."""

    at: float
    p95_ms: float | None
    samples: int
    before: int
    after: int
    reason: str  # "increase" | "decrease" | "hold" | "clamp"


def next_cap(cap: int, p95_ms: float | None, samples: int, config: AutoCapConfig) -> tuple[
    int, str
]:
    """The AIMD step (pure): the new cap and why, for a measured p95 over ``samples``."""
    bounded = min(config.max_cap, max(config.min_cap, cap))
    if p95_ms is None or samples < config.min_samples:
        return bounded, "clamp" if bounded != cap else "hold"
    if p95_ms <= config.target_p95_ms:
        return min(config.max_cap, bounded + config.increase), "increase"
    return max(config.min_cap, math.floor(bounded * config.decrease_factor)), "decrease"


def _key(room: WaitingRoom, name: str) -> str:
    return PortalKeys.of(room.keys).of_room(name)


async def read_config(room: WaitingRoom) -> AutoCapConfig:
    """The automatic cap's current settings."""
    return AutoCapConfig.from_redis(await room.client.hgetall(_key(room, "autocap")))


async def write_config(room: WaitingRoom, config: AutoCapConfig) -> None:
    """Store the automatic cap's settings (validated by the caller)."""
    await room.client.hset(_key(room, "autocap"),
                           mapping=config.to_redis())  # type: ignore[arg-type]


async def autocap_step(room: WaitingRoom, *, now: float | None = None,
                       use_lock: bool = True) -> Decision | None:
    """Make one AIMD decision if switched on and due; None when off or another process decides.

    The lock lasts one decision interval, so however many processes call this every
    tick, the cap changes at most once per interval. The p95 is taken over the form
    responses since the previous decision: each decision sees only fresh evidence.
    """
    config = await read_config(room)
    if not config.enabled:
        return None
    if use_lock:
        token = secrets.token_hex(8)
        locked = await room.client.set(_key(room, "autocap-lock"), token, nx=True,
                                       px=config.interval_seconds * 1000)
        if not locked:
            return None
    now = time.time() if now is None else now
    last = await room.client.hget(_key(room, "autocap"), "last_at")
    since = float(last) if last else now - config.interval_seconds
    latencies = await recent_latencies(room, since)
    p95 = percentile(latencies, 0.95)
    current = (await room.config(max_age=0)).max_active
    after, reason = next_cap(current, p95, len(latencies), config)
    if after != current:
        await room.update_config(max_active=after)
    decision = Decision(now, p95, len(latencies), current, after, reason)
    async with room.client.pipeline(transaction=False) as pipe:
        pipe.hset(_key(room, "autocap"), "last_at", str(now))
        pipe.lpush(_key(room, "autocap-log"), json.dumps(asdict(decision)))
        pipe.ltrim(_key(room, "autocap-log"), 0, KEEP_DECISIONS - 1)
        await pipe.execute()
    return decision


async def recent_decisions(room: WaitingRoom, limit: int = 200) -> list[Decision]:
    """The newest decisions first."""
    raw = await room.client.lrange(_key(room, "autocap-log"), 0, limit - 1)
    return [Decision(**json.loads(item)) for item in raw]


def changed_config(config: AutoCapConfig, **changes: Any) -> AutoCapConfig:
    """A copy with changes applied (types as the dataclass declares)."""
    return replace(config, **changes)
