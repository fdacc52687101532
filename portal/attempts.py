"""Guesses counted: failed and refused attempts at passwords, tokens and codes.

Every endpoint that checks something a person could guess (a console password,
an API token, a recovery, booking or one-time code) counts its failures here and
its refusals once a limit is reached, so operators see an attack in /metrics.
The counters live with the web server's other metrics (portal.telemetry), summed
over its workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Counter

from portal.keys import PortalKeys
from portal.redis_clients import AsyncRedisClient
from portal.telemetry import REGISTRY

ATTEMPTS_FAILED = Counter(
    "antrean_guesses_failed", "Attempts with a wrong password, token or code",
    ["kind"], registry=REGISTRY)
ATTEMPTS_REFUSED = Counter(
    "antrean_guesses_refused", "Attempts refused unchecked because a limit was reached",
    ["kind"], registry=REGISTRY)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` attempts per ``seconds`` at one target, ``per_address`` from one address.

    The target (a code, a NIK) is what a guesser wants; an address is shared by
    every honest person behind it (an office, a carrier's NAT: thousands on the
    worst day), so its bound only stops one machine from trying everything.
    """

    kind: str
    count: int
    seconds: int
    per_address: int = 0  # 0: the same as ``count``

    @property
    def address_count(self) -> int:
        return self.per_address or self.count


# A person who mistypes a code tries a few times; a script tries thousands.
RECOVERY_CODE = Limit("recovery-code", 10, 15 * 60, per_address=300)
BOOKING_CODE = Limit("booking-code", 20, 15 * 60, per_address=600)
BEARER_TOKEN = Limit("bearer-token", 20, 15 * 60)


async def allow_attempt(redis: AsyncRedisClient, keys: PortalKeys, limit: Limit,
                        address: str | None, *targets: str,
                        now: float | None = None) -> bool:
    """Count one attempt from ``address`` and at each target before it is checked.

    False, and the attempt counted as refused, once any of them is past its limit
    (``address=None``: only the targets count). Counting before checking is what
    holds the limit when many attempts come at once.
    """
    window = int((now or time.time()) // limit.seconds)
    names = [(keys.attempts(limit.kind, one, window), limit.count) for one in targets]
    if address is not None:
        names.append((keys.attempts(limit.kind, f"address|{address}", window),
                      limit.address_count))
    over = False
    for name, allowed in names:  # one key each: every call stays on one Redis Cluster node
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, limit.seconds * 2)
            counted, _ = await pipe.execute()
        over = over or int(counted) > allowed
    if over:
        ATTEMPTS_REFUSED.labels(kind=limit.kind).inc()
        return False
    return True


def failed_attempt(limit: Limit) -> None:
    """Count a wrong guess in the metrics."""
    ATTEMPTS_FAILED.labels(kind=limit.kind).inc()


# Tokens are long and random, so only failures are counted for them: a script polling
# with the right token is never slowed down.


async def refused_for_failures(redis: AsyncRedisClient, keys: PortalKeys, limit: Limit, who: str,
                               now: float | None = None) -> bool:
    """Whether ``who`` failed more than the limit allows in the current window."""
    window = int((now or time.time()) // limit.seconds)
    counted = await redis.get(keys.attempts(limit.kind, who, window))
    if counted is not None and int(counted) >= limit.count:
        ATTEMPTS_REFUSED.labels(kind=limit.kind).inc()
        return True
    return False


async def count_failure(redis: AsyncRedisClient, keys: PortalKeys, limit: Limit, who: str,
                        now: float | None = None) -> None:
    """Count one failed attempt by ``who``."""
    window = int((now or time.time()) // limit.seconds)
    name = keys.attempts(limit.kind, who, window)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(name)
        pipe.expire(name, limit.seconds * 2)
        await pipe.execute()
    failed_attempt(limit)
