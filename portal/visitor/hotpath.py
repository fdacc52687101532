"""The two requests a crowd sends most, answered without the framework's layers.

A waiting visitor's browser asks ``GET /api/v1/queue/{token}`` again and again,
and on the opening morning everybody sends ``POST /api/v1/queue/join`` at once.
Through Starlette each passes the error and exception middlewares, the router
(which tries route after route), a Request with its parsed cookies, a Response
object and the security-header middleware: more work than the answer itself.

``portal.app.Portal`` puts this in front of its middleware stack; it answers:

- a status poll that the room's half-second snapshot answers exactly (a valid
  token of this browser, a visitor further back than the next ``max_active``
  places); every other poll - near the front, a bad or foreign token, no fresh
  snapshot - goes on to the API route, which gives the same answers as before;
- every join, through ``portal.visitor.queue_api.join_visitor`` (the route's own code), with
  errors rendered by the app's own exception handlers;
- the board (``waitroom.board``) the far-back pages follow, encoded once per snapshot.

The polls and the board need no await: ``HotPaths.immediate`` gives their answer,
and ``portal.observe.Observed``, in front of everything, asks it first and writes
it itself.

The bodies, status codes, cookies and headers are those of the routes; the
tests run the same requests both ways and compare.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.browser import BROWSER_COOKIE, browser_from_secret, scope_address_hash
from portal.errors import EXCEPTION_HANDLERS
from portal.logs import ROUTE_KEY
from portal.middleware import SecurityHeaders, api_headers, board_headers
from portal.state import PortalState
from portal.visitor.place import poll_answer_from_snapshot
from portal.visitor.queue_api import join_visitor
from portal.web import parse_json_object
from waitroom.tokens import TokenError

QUEUE_PREFIX = "/api/v1/queue/"
JOIN_PATH = "/api/v1/queue/join"
BOARD_PATH = "/api/v1/queue/board"
STATUS_ROUTE = QUEUE_PREFIX + "{token}"
_NOT_TOKENS = frozenset({"join", "stats", "board"})

_JSON = (b"content-type", b"application/json")


class HotPaths:
    """Answers status polls from the snapshot and joins directly (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._state: PortalState | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._board_headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Status polls and the board come through immediate(), which the observing
        # layer in front asks first; what reaches here goes on to the routes.
        if scope["type"] == "http" and scope["method"] == "POST" \
                and scope["path"] == JOIN_PATH:
            scope["endpoint"] = HotPaths
            await self._join(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def immediate(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """The headers and body of a request answered as it is, from memory, with no
        await: a status poll the snapshot answers, the board; None for any other.

        ``portal.observe.Observed`` asks this first and writes the answer itself.
        """
        path = scope["path"]
        if scope["method"] != "GET" or not path.startswith(QUEUE_PREFIX):
            return None
        if path == BOARD_PATH:
            board = (self._state or self._bind(scope)).room.board()
            if board is None:
                return None
            scope["endpoint"] = HotPaths
            return self._board_headers, board
        body = self._status(scope)
        if body is None:
            return None
        # named like the route's, for the access log and /metrics
        scope[ROUTE_KEY] = STATUS_ROUTE
        scope["endpoint"] = HotPaths
        return self._headers, body

    def _status(self, scope: Scope) -> bytes | None:
        """The body of a status poll the snapshot answers, else None."""
        token = scope["path"][len(QUEUE_PREFIX):]
        if not token or "/" in token or token in _NOT_TOKENS:
            return None
        state = self._state or self._bind(scope)
        try:
            ticket = state.signer.read_queue_token(token, _browser_secret(scope), time.time())
        except TokenError:
            return None  # the route answers 401 or 403
        if ticket.room != state.settings.room:
            return None
        return poll_answer_from_snapshot(state.room, ticket.number)

    async def _join(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await _read_body(receive)
        if raw is None:
            return  # the visitor went away before sending the body: nobody to answer
        state = self._state or self._bind(scope)
        try:
            joined = await join_visitor(state, browser_from_secret(_browser_secret(scope)),
                                        scope_address_hash(state, scope),
                                        parse_json_object(raw))
        except Exception as exc:
            handler = _handler_for(exc)
            if handler is None:
                raise
            request = Request(scope, receive)
            response = await handler(request, exc)
            await SecurityHeaders(response, hsts=state.settings.cookie_secure)(
                scope, receive, send)
            return
        await self._send_json(send, joined.status, joined.encoded(),
                              [(b"set-cookie", cookie) for cookie in joined.cookies])

    async def _send_json(self, send: Send, status: int, body: bytes, cookies: Any) -> None:
        headers = self._headers
        if cookies:
            headers = [*cookies, *headers]
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", b"%d" % len(body)), *headers]})
        await send({"type": "http.response.body", "body": body})

    def _bind(self, scope: Scope) -> PortalState:
        # The app's state and settings are known only once a request carries the app.
        state: PortalState = scope["app"].state.portal
        hsts = state.settings.cookie_secure
        self._headers = [_JSON, *api_headers(hsts=hsts)]
        self._board_headers = [_JSON, *board_headers(hsts=hsts)]
        self._state = state
        return state


def _browser_secret(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            return cookie_parser(value.decode("latin-1")).get(BROWSER_COOKIE)
    return None


async def _read_body(receive: Receive) -> bytes | None:
    """The request body (None if the client went away); portal.bodies bounds it in front."""
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _handler_for(exc: Exception) -> Any:
    """The app's handler for an exception, looked up as Starlette does (by class order)."""
    for cls in type(exc).__mro__:
        if cls in EXCEPTION_HANDLERS:
            return EXCEPTION_HANDLERS[cls]
    return None
