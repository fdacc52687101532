"""Security headers on every response (a pure ASGI middleware: no per-request task)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waitroom.board import BOARD_MAX_AGE_S

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


# JSON answers are never rendered as documents: the headers that matter for them
# are fewer (OWASP's REST security cheat sheet), and a poll is mostly headers.
# frame-ancestors supersedes X-Frame-Options in every browser that reads CSP.
API_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
}


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


_RAW_HEADERS = _raw(HEADERS)
_RAW_API_HEADERS = _raw(API_HEADERS)
_HSTS = (b"strict-transport-security", b"max-age=31536000")
_STATIC_CACHE = (b"cache-control", b"public, max-age=604800, immutable")
_NO_STORE = (b"cache-control", b"no-store")
BOARD_CACHE = (b"cache-control", b"public, max-age=%d" % BOARD_MAX_AGE_S)


def same_site_location(location: bytes, host: bytes) -> bytes:
    """A redirect to ``host`` itself as a path only, so the client's Host header is not echoed.

    Starlette's trailing-slash redirect builds an absolute URL from the Host header,
    which the client chooses; the portal's own redirects are paths already.
    """
    parts = urlsplit(location)
    if not parts.scheme or parts.netloc.lower() != host.lower():
        return location
    path = parts.path or b"/"
    return path + b"?" + parts.query if parts.query else path


def api_headers(*, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers ``SecurityHeaders`` adds to an API response that set none of them.

    For responses written without the middleware (portal.visitor.hotpath).
    """
    return [*_RAW_API_HEADERS, *([_HSTS] if hsts else []), _NO_STORE]


def board_headers(*, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers of the queue's board: the same for every visitor, so a shared cache
    (the load balancer's) and the browser may keep it for a second."""
    return [*_RAW_API_HEADERS, *([_HSTS] if hsts else []), BOARD_CACHE]


class SecurityHeaders:
    """Adds the security headers; static files may be cached (their URLs carry a version).

    Redirects to the request's own host lose the host (see ``same_site_location``).
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.extra = [*_RAW_HEADERS, _HSTS] if hsts else list(_RAW_HEADERS)
        self.api_extra = [*_RAW_API_HEADERS, _HSTS] if hsts else list(_RAW_API_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        static = path.startswith("/static/")
        extra = self.api_extra if path.startswith("/api/") else self.extra

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw header tuples: this runs on every poll, MutableHeaders costs more.
                headers = list(message.get("headers", ()))
                if 300 <= message["status"] < 400:
                    host = _host(scope)
                    headers = [(name, same_site_location(value, host))
                               if name.lower() == b"location" else (name, value)
                               for name, value in headers]
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in extra if item[0] not in present)
                if static:
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                    headers.append(_STATIC_CACHE)
                elif b"cache-control" not in present:
                    # Pages carry tokens and personal data: never in a shared cache.
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _host(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return bytes(value)
    return b""
