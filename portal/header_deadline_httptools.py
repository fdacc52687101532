"""uvicorn's httptools protocol with the header deadline of ``portal.header_deadline``.

A module of its own: importing it needs httptools, which ``portal.serve`` does
without when it is not installed.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from portal.header_deadline import HeadDeadline, close_late_head


class HttpToolsHeaderDeadline(HeadDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol, each request head held to the header deadline."""

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
