"""Signed queue and session tokens (pure: no I/O, the clock is an argument).

A queue token carries everything a status check needs (room, queue number,
issue time) plus a tag of the browser secret it was issued to, so the status
endpoint needs no per-visitor lookup to trust it, and a token copied to
another browser is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

_SIG_BYTES = 16
_VERIFIED_LIMIT = 50_000


class TokenError(Exception):
    """A token that cannot be trusted; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ForeignToken(TokenError):
    """A valid token presented by a browser it was not issued to."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def binding_tag(browser_secret: str) -> str:
    """Return the short public tag of a browser secret that a token embeds."""
    digest = hashlib.sha256(b"antrean-binding\0" + browser_secret.encode()).digest()
    return _b64(digest[:9])


@dataclass(frozen=True)
class QueueTicket:
    """What a queue token proves: this browser holds this place in this room."""

    room: str
    number: int
    issued_at: int
    binding: str


@dataclass(frozen=True)
class SessionTicket:
    """What a session token proves: this browser holds this form session."""

    room: str
    session_id: str
    number: int
    binding: str


class _Hmac:
    """HMAC-SHA256 under one key (RFC 2104), with the keyed inner and outer states made
    once: OpenSSL 3 spends more on setting a key up than on hashing a short message."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class TokenSigner:
    """Signs and verifies tokens with HMAC-SHA256 under one secret key."""

    def __init__(self, secret: str | bytes, *, max_age_seconds: int = 14 * 86400) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValueError("secret key must be at least 16 bytes")
        self._mac = _Hmac(key)
        self.max_age_seconds = max_age_seconds
        self._verified: dict[str, tuple[QueueTicket, str]] = {}

    def _sign(self, kind: str, body: str) -> str:
        mac = self._mac.digest(f"{kind}|{body}".encode())
        return _b64(mac[:_SIG_BYTES])

    def _open(self, kind: str, token: str, fields: int) -> list[str]:
        if not isinstance(token, str) or len(token) > 512 or not token.isascii():
            raise TokenError("malformed")
        body, _, sig = token.rpartition(".")
        parts = body.split(".")
        if not body or len(parts) != fields:
            raise TokenError("malformed")
        if not hmac.compare_digest(sig, self._sign(kind, body)):
            raise TokenError("bad_signature")
        return parts

    def queue_token(self, ticket: QueueTicket) -> str:
        """Return the signed token for a queue place."""
        body = f"{ticket.room}.{ticket.number}.{ticket.issued_at}.{ticket.binding}"
        return f"{body}.{self._sign('q', body)}"

    def read_queue_token(self, token: str, browser_secret: str | None, now: float) -> QueueTicket:
        """Verify a queue token for this browser at time ``now``; raise TokenError if not."""
        # A waiting visitor presents the same token with the same browser secret every
        # poll: remember the tokens whose signature checked out (bounded) and the
        # secret last proven to hold each, so a poll costs neither HMAC nor hash.
        entry = self._verified.get(token)
        if entry is None:
            room, number, issued, binding = self._open("q", token, 4)
            try:
                entry = (QueueTicket(room, int(number), int(issued), binding), "")
            except ValueError as exc:
                raise TokenError("malformed") from exc
            if len(self._verified) >= _VERIFIED_LIMIT:
                self._verified.clear()
            self._verified[token] = entry
        ticket, proven = entry
        if ticket.issued_at + self.max_age_seconds < now:
            raise TokenError("expired")
        if browser_secret is None or not browser_secret.isascii():
            raise ForeignToken("foreign")
        if proven and hmac.compare_digest(browser_secret, proven):
            return ticket
        if not hmac.compare_digest(ticket.binding, binding_tag(browser_secret)):
            raise ForeignToken("foreign")
        self._verified[token] = (ticket, browser_secret)
        return ticket

    def session_token(self, ticket: SessionTicket) -> str:
        """Return the signed token for a form session."""
        body = f"{ticket.room}.{ticket.session_id}.{ticket.number}.{ticket.binding}"
        return f"{body}.{self._sign('s', body)}"

    def read_session_token(self, token: str, browser_secret: str | None) -> SessionTicket:
        """Verify a session token for this browser; raise TokenError if not."""
        room, session_id, number, binding = self._open("s", token, 4)
        try:
            ticket = SessionTicket(room, session_id, int(number), binding)
        except ValueError as exc:
            raise TokenError("malformed") from exc
        if browser_secret is None or not hmac.compare_digest(
            binding, binding_tag(browser_secret)
        ):
            raise ForeignToken("foreign")
        return ticket

    def arrival_code(self, room: str, number: int, joined_at: int) -> str:
        """Return the signed code of an arrival receipt (room, queue number, join time)."""
        body = f"{room}.{number}.{joined_at}"
        return f"{body}.{self._sign('r', body)}"

    def read_arrival_code(self, code: str) -> QueueTicket:
        """Verify an arrival receipt code; raise TokenError if it was not issued by us."""
        room, number, joined = self._open("r", code.strip(), 3)
        try:
            return QueueTicket(room, int(number), int(joined), "")
        except ValueError as exc:
            raise TokenError("malformed") from exc

    def resume_token(self, room: str, number: int, expires_at: int) -> str:
        """A link token that lets whoever holds it claim an admitted place until ``expires_at``.

        Sent only to the visitor's own e-mail or phone: it re-binds the place to
        the browser that opens the link (the e-mail app's browser, say).
        """
        body = f"{room}.{number}.{expires_at}"
        return f"{body}.{self._sign('l', body)}"

    def read_resume_token(self, token: str, now: float) -> tuple[str, int]:
        """Verify a resume token at ``now``; return (room, number) or raise TokenError."""
        room, number, expires = self._open("l", token, 3)
        try:
            number_value, expires_value = int(number), int(expires)
        except ValueError as exc:
            raise TokenError("malformed") from exc
        if expires_value < now:
            raise TokenError("expired")
        return room, number_value

    def identity_hash(self, kind: str, value: str) -> str:
        """Return the keyed hash under which an identifier is kept in Redis (never in clear)."""
        mac = self._mac.digest(f"id|{kind}|{value}".encode())
        return _b64(mac[:12])
