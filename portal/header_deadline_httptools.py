"""uvicorn's httptools protocol with the header deadline of ``portal.header_deadline``.

A module of its own: importing it needs httptools, which ``portal.serve`` does
without when it is not installed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from portal.header_deadline import DEFAULT_HEADER_TIMEOUT, HeadClock, close_late_head


class HttpToolsHeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, each request head held to the header deadline."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *,
                 header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_clock = HeadClock(self.loop, header_timeout, self._head_too_late)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_clock.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_clock.stop()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Bytes between requests begin a head, even bytes the parser skips (blank
        # lines): each arrival cancels uvicorn's keep-alive timer, so they must not
        # go untimed.
        if self.cycle is None or self.cycle.response_complete:
            self.head_clock.start()
        self.head_clock.count(len(data))
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_clock.start()  # a pipelined head, begun while a response is in flight

    def on_headers_complete(self) -> None:
        self.head_clock.stop()
        super().on_headers_complete()

    def _head_too_late(self, received: int) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head came too slowly behind a request still being answered:
            # that answer goes out whole, then the connection closes.
            self.cycle.keep_alive = False
            return
        close_late_head(self.transport, received, self.server_state.default_headers)
