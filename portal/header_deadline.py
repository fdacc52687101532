"""A deadline for each request's line and headers, as Apache's mod_reqtimeout sets one.

uvicorn bounds the idle time between requests of a kept-alive connection
(``timeout_keep_alive``) but not the time a request head takes to arrive: a
client sending one header byte every few seconds would hold a connection, and
its file descriptor, for ever. Here the head must be complete within the header
timeout of the connection's opening, or, on a kept-alive connection, of the
head's first byte (the idle time before it stays ``timeout_keep_alive``'s). Each
500 bytes received give one second more, up to twice the timeout, so a large
head on a slow line still arrives. Past the deadline the client is answered
408 and the connection closed; a connection that never sent a byte is closed
without an answer, as it asked nothing.

``portal.serve`` hands these protocols to uvicorn: httptools' parser when it is
installed (``portal.header_deadline_httptools``), h11's otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

BYTES_PER_EXTRA_SECOND = 500
DEFAULT_HEADER_TIMEOUT = 20.0
_BODY = b"Request Timeout"


def head_deadline(started: float, received: int, timeout: float) -> float:
    """When a head begun at ``started``, ``received`` bytes of it so far, must be complete."""
    extra = received // BYTES_PER_EXTRA_SECOND
    return started + min(timeout + extra, 2 * timeout)


def request_timeout_response(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The 408 answer to a head that did not arrive in time; the connection closes after it."""
    lines = [b"HTTP/1.1 408 Request Timeout"]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [b"content-type: text/plain; charset=utf-8",
              b"content-length: " + str(len(_BODY)).encode(), b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + _BODY


class HeadClock:
    """The deadline of the request head one connection is receiving, if it is receiving one."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float,
                 expired: Callable[[int], None]) -> None:
        self.loop = loop
        self.timeout = timeout
        self.expired = expired  # called with the bytes received
        self.started: float | None = None
        self.received = 0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        """Whether a head is being waited for."""
        return self.started is not None

    def start(self) -> None:
        """Start the clock of a new head, unless one is already running."""
        if self.started is not None:
            return
        self.started = self.loop.time()
        self.received = 0
        self._timer = self.loop.call_at(self.started + self.timeout, self._check)

    def count(self, size: int) -> None:
        """Add bytes that arrived while the head was being waited for."""
        if self.started is not None:
            self.received += size

    def stop(self) -> None:
        """The head is complete (or the connection gone): no deadline any more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.started = None

    def _check(self) -> None:
        # One timer per head, moved on when bytes have earned more time: no timer
        # is rescheduled per packet.
        assert self.started is not None
        deadline = head_deadline(self.started, self.received, self.timeout)
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._check)
            return
        received = self.received
        self.stop()
        self.expired(received)


def close_late_head(transport: asyncio.Transport, received: int,
                    default_headers: list[tuple[bytes, bytes]]) -> None:
    """Answer a late head 408 and close; close a connection that sent nothing silently."""
    if transport.is_closing():
        return
    if received:
        transport.write(request_timeout_response(default_headers))
    transport.close()


class HeadDeadline(asyncio.Protocol):
    """What both protocols add to uvicorn's: a head clock, started with the connection
    and stopped with it. Listed before uvicorn's protocol class in the bases."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    server_state: ServerState

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *,
                 header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> None:
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        self.head_clock = HeadClock(self.loop, header_timeout, self._head_too_late)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.head_clock.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_clock.stop()
        super().connection_lost(exc)

    def _head_too_late(self, received: int) -> None:
        close_late_head(self.transport, received, self.server_state.default_headers)


class H11HeaderDeadline(HeadDeadline, H11Protocol):
    """uvicorn's h11 protocol, each request head held to the header deadline."""

    def data_received(self, data: bytes) -> None:
        # h11 waits for a request line exactly while the client's state is IDLE.
        if self.conn.their_state is h11.IDLE:
            self.head_clock.start()
        self.head_clock.count(len(data))
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self.head_clock.stop()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined head read ahead, still incomplete, is timed from now.
        if (self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]
                and not self.transport.is_closing()):
            self.head_clock.start()
