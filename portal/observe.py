"""Every request seen once: its id, its log lines, its access line and its metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.environment import Network
from portal.logs import HEADER, REQUEST_ID, incoming_request_id, log_access, new_request_id
from portal.telemetry import TALLY

# HotPaths.immediate: the headers and body of a request answered from memory, or None.
Immediate = Callable[[Scope], "tuple[list[tuple[bytes, bytes]], bytes] | None"]


class Observed:
    """In front of everything (hot paths included): give each HTTP request an id (kept
    from a trusted proxy, else made), answer it in ``X-Request-ID`` and set it for the
    request's log lines; count the request in flight, time it for /metrics and, when
    asked, write its access line.

    ``immediate`` (``HotPaths.immediate``) is asked first: what it answers from memory
    (most of a crowd's polls) is written here, without the layers behind.
    """

    def __init__(self, app: ASGIApp, proxies: tuple[Network, ...], access: bool,
                 immediate: Immediate | None = None) -> None:
        self.app = app
        self.proxies = proxies
        self.access = access
        self.immediate = immediate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (self.proxies and incoming_request_id(scope, self.proxies)) \
            or new_request_id()
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode())
        status = 0
        started = time.perf_counter()
        TALLY.in_flight += 1
        try:
            answer = None if self.immediate is None else self.immediate(scope)
            if answer is not None:
                headers, body = answer
                status = 200
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", b"%d" % len(body)), *headers,
                                        header]})
                await send({"type": "http.response.body", "body": body})
                return

            async def observed_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            await self.app(scope, receive, observed_send)
        finally:
            self._done(scope, status, started, request_id)
            REQUEST_ID.reset(token)

    def _done(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        TALLY.in_flight -= 1
        seconds = time.perf_counter() - started
        TALLY.observe(scope, status, seconds)
        if self.access:
            log_access(scope, status, seconds, request_id)
