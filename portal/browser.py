"""The visitor's browser: its secret, its tokens, its cookies."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from portal import addresses
from portal.state import PortalState, state_of
from waitroom.tokens import QueueTicket, SessionTicket, TokenError, TokenSigner, binding_tag

BROWSER_COOKIE = "antrean_b"
QUEUE_COOKIE = "antrean_q"
SESSION_COOKIE = "antrean_s"
RECEIPT_COOKIE = "antrean_r"
YEAR = 365 * 86400


@dataclass
class Browser:
    """The browser secret of a request, created when the browser has none yet."""

    secret: str
    is_new: bool
    # The public tag tokens embed; also the key of this browser's draft (a join needs
    # it several times: worked out once).
    tag: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tag = binding_tag(self.secret)

    def csrf_token(self, signer: TokenSigner) -> str:
        """The hidden form value that proves a POST came from our own page."""
        return signer.identity_hash("csrf", self.secret)


def browser_of(request: Request) -> Browser:
    """Return the request's browser secret (a fresh one if the cookie is missing)."""
    return browser_from_secret(request.cookies.get(BROWSER_COOKIE))


def browser_from_secret(secret: str | None) -> Browser:
    """The browser of a browser-cookie value (a fresh one if it is missing or malformed)."""
    if secret and 16 <= len(secret) <= 64 and secret.isascii():
        return Browser(secret, False)
    return Browser(secrets.token_urlsafe(24), True)


_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_.~-]*")


def cookie_header(name: str, value: str, max_age: int, *, secure: bool) -> bytes:
    """The Set-Cookie value of an HttpOnly, SameSite=Lax cookie (Secure when asked).

    Our values are tokens of URL-safe characters, so the header is written
    directly: http.cookies' general quoting costs more than the rest of a join.
    """
    if _COOKIE_VALUE.fullmatch(value) is None:
        raise ValueError("cookie values here are URL-safe tokens")
    flag = "; Secure" if secure else ""
    return f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=lax{flag}".encode()


def set_cookie(response: Response, name: str, value: str, max_age: int, *,
               secure: bool) -> None:
    """Set one of our cookies on a response."""
    response.raw_headers.append((b"set-cookie", cookie_header(name, value, max_age,
                                                              secure=secure)))


def browser_cookie(browser: Browser, *, secure: bool) -> bytes | None:
    """The Set-Cookie value that stores a newly made browser secret (None if not new)."""
    return cookie_header(BROWSER_COOKIE, browser.secret, YEAR, secure=secure) \
        if browser.is_new else None


def remember_browser(response: Response, browser: Browser, *, secure: bool) -> None:
    """Store a newly made browser secret."""
    cookie = browser_cookie(browser, secure=secure)
    if cookie is not None:
        response.raw_headers.append((b"set-cookie", cookie))


def queue_ticket(state: PortalState, request: Request, token: str | None,
                 now: float) -> QueueTicket:
    """Verify a queue token for this request's browser; raise TokenError."""
    if not token:
        raise TokenError("missing")
    ticket = state.signer.read_queue_token(token, request.cookies.get(BROWSER_COOKIE), now)
    if ticket.room != state.settings.room:
        raise TokenError("other_room")
    return ticket


def session_ticket(state: PortalState, request: Request, token: str | None) -> SessionTicket:
    """Verify the form-session token for this request's browser; raise TokenError."""
    if not token:
        raise TokenError("missing")
    ticket = state.signer.read_session_token(token, request.cookies.get(BROWSER_COOKIE))
    if ticket.room != state.settings.room:
        raise TokenError("other_room")
    return ticket


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or what the trusted proxies say ("-" unknown)."""
    return addresses.client_address(request, state_of(request).settings.trusted_proxies)


def address_hash(request: Request) -> str:
    """A short hash of the client's address for rate limits (the address is not stored)."""
    return scope_address_hash(state_of(request), request.scope)


def scope_address_hash(state: PortalState, scope: Scope) -> str:
    """``address_hash`` of an ASGI scope, for code that has no Request (the hot paths)."""
    return addresses.limit_hash(addresses.scope_client_address(
        scope, state.settings.trusted_proxies))
