"""Security headers on every response (a pure ASGI middleware: no per-request task)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


_RAW_HEADERS = [(name.encode("latin-1"), value.encode("latin-1"))
                for name, value in HEADERS.items()]
_HSTS = (b"strict-transport-security", b"max-age=31536000")
_STATIC_CACHE = (b"cache-control", b"public, max-age=604800, immutable")
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds the security headers; static files may be cached (their URLs carry a version)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.extra = [*_RAW_HEADERS, _HSTS] if hsts else list(_RAW_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        extra = self.extra

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw header tuples: this runs on every poll, MutableHeaders costs more.
                headers = list(message.get("headers", ()))
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
