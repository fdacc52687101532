"""Per-channel send rate: a token bucket in Redis that every worker shares."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from importlib import resources

from portal.keys import PortalKeys
from portal.redis_clients import SyncRedisClient

_SCRIPT = resources.files("portal.notify").joinpath("token_bucket.lua").read_text()


class ChannelRateLimiter:
    """Spread sends on each channel to its configured rate, across all processes."""

    def __init__(self, client: SyncRedisClient, rates: dict[str, float],
                 keys: PortalKeys | None = None, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._rates = rates
        self._keys = keys or PortalKeys()
        self._clock = clock
        self._sleep = sleep
        self._take = client.register_script(_SCRIPT)

    def key(self, channel: str) -> str:
        """The Redis key of a channel's bucket."""
        return self._keys.notify_rate(channel)

    def try_take(self, channel: str) -> float:
        """Take one token now if there is one; return 0, else the seconds to wait."""
        rate = self._rates.get(channel, 0.0)
        if rate <= 0:
            return 0.0
        capacity = max(1.0, rate)  # at most one second's worth at once
        wait_ms = self._take(keys=[self.key(channel)],
                             args=[rate, capacity, int(self._clock() * 1000), 1])
        return int(wait_ms) / 1000

    def wait_for_token(self, channel: str, max_wait: float = 60.0) -> bool:
        """Block until a token is taken (True) or ``max_wait`` seconds passed (False)."""
        deadline = self._clock() + max_wait
        while True:
            wait = self.try_take(channel)
            if wait <= 0:
                return True
            if self._clock() + wait > deadline:
                return False
            # Jitter, so workers woken together do not ask together.
            self._sleep(wait * (1 + random.random() * 0.2))
