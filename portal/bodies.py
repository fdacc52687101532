"""Request bodies bounded while they arrive, for every route, before anything reads them.

Each kind of route has one limit (below). A body that declares a larger
``Content-Length`` is answered 413 at once, unread; a chunked body is counted as
its chunks arrive and the request is answered 413 as soon as the count passes the
limit, so no route ever holds more than its limit of one request's body. The
server enforces a declared length itself (it never hands over more than it
declared), so only bodies without one are counted.

``portal.app.Portal`` puts this in front of everything, the hot paths included.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.errors import BodyRefused, error_page
from portal.middleware import SecurityHeaders

# The limits, per kind of route.
JSON_BODY_BYTES = 16 * 1024  # the JSON API: small objects only
FORM_BODY_BYTES = 64 * 1024  # an HTML form's text fields
DOCUMENT_BODY_BYTES = 2 * 1024 * 1024 + 128 * 1024  # two 1 MB PDFs and the fields
ROSTER_FILE_BYTES = 20 * 1024 * 1024
ROSTER_BODY_BYTES = ROSTER_FILE_BYTES + 64 * 1024  # one roster file and the fields

DOCUMENT_PATHS = frozenset({"/formulir", "/formulir/berkas"})
ROSTER_PATHS = frozenset({"/admin/peserta/unggah"})
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
_CLOSE = (b"connection", b"close")


class BodyTooLarge(BodyRefused):
    """A request body passed its route's limit while it was being read."""


class BodyStalled(BodyRefused):
    """A request body stopped arriving: no byte for longer than the body timeout."""


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` may have."""
    if path.startswith("/api/"):
        return JSON_BODY_BYTES
    if path in DOCUMENT_PATHS:
        return DOCUMENT_BODY_BYTES
    if path in ROSTER_PATHS:
        return ROSTER_BODY_BYTES
    return FORM_BODY_BYTES


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` (-1 when it is not a number), or None without one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


def too_large_response(scope: Scope, receive: Receive) -> Response:
    """The 413 answer: the JSON error for the API, the error page otherwise."""
    return _refusal(scope, receive, 413, "too_large")


def _refusal(scope: Scope, receive: Receive, status: int, code: str) -> Response:
    response = error_page(Request(scope, receive), status, code)
    # The rest of the body is not wanted: the connection ends with this answer.
    response.raw_headers.append(_CLOSE)
    return response


class BodyLimit:
    """Refuses bodies above their route's limit, declared or counted (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = declared_length(scope)
        if declared is not None and not 0 <= declared <= limit:
            await self._refuse(scope, receive, send, 413, "too_large")
            return
        # A client that stops sending mid-body is cut off after this many idle seconds
        # (it would hold a connection and a worker's attention for as long as it likes).
        idle = scope["app"].state.portal.settings.body_timeout_seconds
        received = 0
        refused: tuple[int, str] | None = None
        complete = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, refused, complete
            if refused is not None:
                raise BodyTooLarge if refused[0] == 413 else BodyStalled
            if complete:
                return await receive()  # after the body: only the disconnect, whenever it comes
            try:
                async with asyncio.timeout(idle):
                    message = await receive()
            except TimeoutError:
                refused = (408, "timeout")
                raise BodyStalled from None
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
                if declared is None:  # the server enforces a declared length itself
                    received += len(message.get("body", b""))
                    if received > limit:
                        refused = (413, "too_large")
                        raise BodyTooLarge
            return message

        async def checked_send(message: Message) -> None:
            nonlocal started
            if refused is not None and not started:
                return  # whatever the route made of a cut-off body: the refusal answers instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, checked_send)
        except Exception:
            if refused is None or started:
                raise
        if refused is not None and not started:
            await self._refuse(scope, receive, send, *refused)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int = 413,
                      code: str = "too_large") -> None:
        response = _refusal(scope, receive, status, code)
        hsts = scope["app"].state.portal.settings.cookie_secure
        await SecurityHeaders(response, hsts=hsts)(scope, receive, send)
