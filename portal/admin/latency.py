"""Response times of the data-entry form, recorded in Redis for the automatic cap."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.keys import PortalKeys
from portal.state import PortalState
from waitroom.room import WaitingRoom

log = logging.getLogger("antrean.admin")

FORM_PREFIX = "/formulir"
KEEP = 5000  # newest samples kept; enough for several minutes of a busy form


def _key(room: WaitingRoom) -> str:
    return PortalKeys.of(room.keys).of_room("form-latency")


async def record_latency(room: WaitingRoom, at: float, seconds: float) -> None:
    """Remember one form response time (at: epoch seconds when it finished)."""
    async with room.client.pipeline(transaction=False) as pipe:
        pipe.lpush(_key(room), f"{int(at * 1000)}:{int(seconds * 1000)}")
        pipe.ltrim(_key(room), 0, KEEP - 1)
        await pipe.execute()


async def recent_latencies(room: WaitingRoom, since: float) -> list[int]:
    """Form response times in milliseconds of responses finished after ``since``."""
    since_ms = int(since * 1000)
    found: list[int] = []
    for raw in await room.client.lrange(_key(room), 0, KEEP - 1):
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        at, _, duration = text.partition(":")
        if int(at) <= since_ms:
            break  # newest first: the rest are older
        found.append(int(duration))
    return found


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


class FormLatency:
    """Times every response under /formulir and records it (pure ASGI: no extra task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FORM_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: PortalState = scope["app"].state.portal

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                if not state.started:
                    return
                try:
                    await record_latency(state.room, time.time(), time.perf_counter() - started)
                except Exception as exc:  # a slow Redis must not fail the form
                    log.warning("form latency not recorded: %s", type(exc).__name__)

        await self.app(scope, receive, timed_send)
