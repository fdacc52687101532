"""``python -m bench.request_metrics``: what timing and counting a request costs the web process.

Runs a trivial ASGI app bare and behind portal.observe.Observed (request id, in-flight
gauge, latency histogram) and prints the time per request of each. Set
PROMETHEUS_MULTIPROC_DIR to an empty directory to measure the multiprocess mode that
``antrean run`` uses.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.observe import Observed

REQUESTS = 50_000


async def _bare(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _per_request(app: ASGIApp) -> float:
    async def send(_message: Message) -> None:
        return None

    async def receive() -> Message:
        return {"type": "http.request"}

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(REQUESTS):
            scope = {"type": "http", "method": "GET", "path": "/api/v1/queue/abc",
                     "path_params": {"token": "abc"}, "endpoint": _bare}
            await app(scope, receive, send)
        best = min(best, (time.perf_counter() - started) / REQUESTS)
    return best


async def _main() -> None:
    bare = await _per_request(_bare)
    timed = await _per_request(Observed(_bare, (), access=False))
    print(f"bare app: {bare * 1e6:.2f} µs a request; behind Observed: "
          f"{timed * 1e6:.2f} µs (+{(timed - bare) * 1e6:.2f} µs)")


if __name__ == "__main__":
    asyncio.run(_main())
