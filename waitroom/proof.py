"""Proof of work for joins past an address's bucket (pure: the clock is an argument).

Thousands of honest people can share one address (an office, a carrier-grade
NAT), so an address past its join bucket is not refused: each further join asks
for a small proof of work instead. The browser finds a nonce such that
``sha256(challenge + nonce)`` starts with ``bits`` zero bits; each person solves
one, in parallel with everybody else, while one program opening places in a loop
has to solve them all, one after another.

The difficulty grows by one bit each time the address's overage (the joins it
owes the bucket) doubles, counted in minutes of refill: ``BASE_BITS`` for the
first minute's worth, ``BASE_BITS + 1`` from one to three minutes' worth, and so
on up to ``CAP_BITS``. The expected cost of one proof is ``2**bits`` hashes.

A challenge is signed with the app's secret, bound to the hashed address and the
browser it was given to, and expires; the room accepts each one once.

Without JavaScript nobody can solve one, so a slow lane hands out signed turn
tickets instead: each valid from a moment spaced ``LANE_SPACING_MS`` after the
address's previous one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer

BASE_BITS = 14
CAP_BITS = 22
CHALLENGE_SECONDS = 120
MAX_NONCE_CHARS = 32
# The slow lane: a first ticket is valid after LANE_DELAY_MS, the next ones from
# the same address LANE_SPACING_MS apart (12 a minute), each for TURN_SECONDS;
# a lane already LANE_MAX_WAIT_MS long gives no more tickets for now.
LANE_DELAY_MS = 15_000
LANE_SPACING_MS = 5_000
LANE_MAX_WAIT_MS = 30 * 60_000
TURN_SECONDS = 10 * 60


class ProofError(Exception):
    """A challenge, proof or turn ticket that does not hold; ``reason`` says why."""

    def __init__(self, reason: str, wait_seconds: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_seconds = wait_seconds


def difficulty(overage: int, per_minute: int) -> int:
    """The bits of work for a join ``overage`` joins past a bucket refilled at ``per_minute``."""
    refill = max(1, per_minute)
    owed = refill + max(0, overage)
    extra = 0
    while extra < CAP_BITS - BASE_BITS and refill << (extra + 1) <= owed:
        extra += 1
    return BASE_BITS + extra


def covered_overage(bits: int, per_minute: int) -> int:
    """The largest overage a proof of ``bits`` pays for (-1: any, at the cap)."""
    if bits >= CAP_BITS:
        return -1
    refill = max(1, per_minute)
    return max(0, (refill << max(0, bits - BASE_BITS + 1)) - refill - 1)


def expected_hashes(bits: int) -> int:
    """How many hashes a proof of ``bits`` takes on average."""
    return 1 << bits


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits a digest starts with."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def meets(challenge: str, nonce: str, bits: int) -> bool:
    """Whether ``sha256(challenge + nonce)`` starts with at least ``bits`` zero bits."""
    digest = hashlib.sha256((challenge + nonce).encode()).digest()
    return leading_zero_bits(digest) >= bits


def solve(challenge: str, bits: int, start: int = 0) -> str:
    """Find a nonce (decimal digits) for a challenge, as a browser does."""
    prefix = hashlib.sha256(challenge.encode())
    limit = (1 << (256 - bits)).to_bytes(33, "big")[1:] if bits else b"\xff" * 33
    nonce = start
    while True:
        attempt = prefix.copy()
        attempt.update(str(nonce).encode())
        if attempt.digest() < limit:
            return str(nonce)
        nonce += 1


@dataclass(frozen=True)
class Challenge:
    """What a signed challenge says: its difficulty, deadline, and who it was given to."""

    token: str
    room: str
    bits: int
    expires_at: int
    address: str
    browser: str
    salt: str

    @property
    def proof_id(self) -> str:
        """The name under which the room remembers that this challenge was used."""
        return f"p:{self.salt}"


@dataclass(frozen=True)
class TurnTicket:
    """A slow-lane turn: valid from ``not_before`` to ``expires_at`` for one browser."""

    token: str
    room: str
    not_before: int
    expires_at: int
    address: str
    browser: str
    salt: str

    @property
    def proof_id(self) -> str:
        """The name under which the room remembers that this ticket was used."""
        return f"t:{self.salt}"


class ProofSigner:
    """Signs and checks challenges and turn tickets under the app's secret."""

    def __init__(self, secret: str | bytes) -> None:
        self._signer = Signer(secret, salt="antrean-join-proof")

    def challenge(self, room: str, bits: int, address: str, browser: str, now: float, *,
                  salt: str | None = None) -> Challenge:
        """A new challenge of ``bits`` for this (hashed) address and browser tag."""
        salt = salt or secrets.token_urlsafe(12)
        expires = int(now) + CHALLENGE_SECONDS
        body = f"p1.{bits}.{expires}.{address}.{browser}.{salt}.{room}"
        token = self._signer.sign(body).decode()
        return Challenge(token, room, bits, expires, address, browser, salt)

    def turn_ticket(self, room: str, address: str, browser: str, not_before: int, *,
                    salt: str | None = None) -> TurnTicket:
        """A slow-lane turn valid from ``not_before`` (epoch seconds) for ``TURN_SECONDS``."""
        salt = salt or secrets.token_urlsafe(12)
        expires = not_before + TURN_SECONDS
        body = f"t1.{not_before}.{expires}.{address}.{browser}.{salt}.{room}"
        token = self._signer.sign(body).decode()
        return TurnTicket(token, room, not_before, expires, address, browser, salt)

    def _fields(self, token: str, kind: str) -> list[str]:
        if not isinstance(token, str) or len(token) > 400 or not token.isascii():
            raise ProofError("malformed")
        try:
            body = self._signer.unsign(token).decode()
        except BadSignature as exc:
            raise ProofError("forged") from exc
        fields = body.split(".", 6)
        if len(fields) != 7 or fields[0] != kind:
            raise ProofError("malformed")
        return fields

    def _owned(self, token: str, kind: str, room: str, address: str, browser: str,
               now: float) -> tuple[int, int, str]:
        """(its number, expiry, salt) of an unexpired token of this room, address, browser."""
        _kind, number, expires, owner_address, owner_browser, salt, owner_room = \
            self._fields(token, kind)
        if not (number.isdigit() and expires.isdigit()):
            raise ProofError("malformed")
        if owner_room != room or owner_address != address or owner_browser != browser:
            raise ProofError("foreign")
        if int(expires) < now:
            raise ProofError("expired")
        return int(number), int(expires), salt

    def read_challenge(self, token: str, room: str, address: str, browser: str,
                       now: float) -> Challenge:
        """Verify a challenge for this room, address and browser at ``now``; raise ProofError."""
        bits, expires, salt = self._owned(token, "p1", room, address, browser, now)
        return Challenge(token, room, bits, expires, address, browser, salt)

    def check_proof(self, token: str, nonce: str, room: str, address: str, browser: str,
                    now: float) -> Challenge:
        """The challenge a proof solves, once verified; raise ProofError if it does not."""
        challenge = self.read_challenge(token, room, address, browser, now)
        if not isinstance(nonce, str) or not nonce.isascii() or not nonce.isdigit() \
                or len(nonce) > MAX_NONCE_CHARS:
            raise ProofError("malformed")
        if not meets(token, nonce, challenge.bits):
            raise ProofError("wrong")
        return challenge

    def read_turn_ticket(self, token: str, room: str, address: str, browser: str,
                         now: float) -> TurnTicket:
        """Verify a turn ticket that is due now; raise ProofError ("early" with the wait)."""
        not_before, expires, salt = self._owned(token, "t1", room, address, browser, now)
        if now < not_before:
            raise ProofError("early", wait_seconds=max(1, not_before - int(now)))
        return TurnTicket(token, room, not_before, expires, address, browser, salt)
