"""Every request seen once: its id, its log lines, its access line and its metrics."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.environment import Network
from portal.logs import HEADER, REQUEST_ID, incoming_request_id, log_access, new_request_id
from portal.telemetry import TALLY


class Observed:
    """In front of everything (hot paths included): give each HTTP request an id (kept
    from a trusted proxy, else made), answer it in ``X-Request-ID`` and set it for the
    request's log lines; count the request in flight, time it for /metrics and, when
    asked, write its access line."""

    def __init__(self, app: ASGIApp, proxies: tuple[Network, ...], access: bool) -> None:
        self.app = app
        self.proxies = proxies
        self.access = access

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

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        TALLY.in_flight += 1
        try:
            await self.app(scope, receive, observed_send)
        finally:
            TALLY.in_flight -= 1
            seconds = time.perf_counter() - started
            TALLY.observe(scope, status, seconds)
            if self.access:
                log_access(scope, status, seconds, request_id)
            REQUEST_ID.reset(token)
