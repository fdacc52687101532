"""What the pages and the API share about a visitor's place in the queue."""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.responses import Response

from portal.browser import (
    QUEUE_COOKIE,
    SESSION_COOKIE,
    Browser,
    browser_cookie,
    cookie_header,
    remember_browser,
    set_cookie,
)
from portal.errors import closed_transport
from portal.state import PortalState
from waitroom.eta import WaitEstimate, poll_after_ms
from waitroom.room import (
    JoinLimit,
    JoinProof,
    JoinRateLimited,
    Place,
    QueueClosed,
    SessionGrant,
    WaitingRoom,
)
from waitroom.states import VisitorState
from waitroom.tokens import QueueTicket, SessionTicket

# Jitter only spreads polls out; it needs no secrecy, and SystemRandom costs a
# system call on every poll.
_rng = random.Random()

# What a Redis outage looks like to a caller (see also redis_down).
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
OPEN_DOOR_PREFIX = "open-"
OPEN_DOOR_SECONDS = 3600
QUEUE_COOKIE_SECONDS = 14 * 86400

CLOSED_MESSAGE = (
    "Pendaftaran sudah ditutup untuk antrean baru. Yang sudah mengantre tetap dilayani."
)

# A join the room refuses, whichever door it came through.
JOIN_REFUSED = (QueueClosed, JoinRateLimited)


@dataclass(frozen=True)
class JoinRefusal:
    """How a refused join is answered: the same status, code and message everywhere."""

    status: int
    code: str
    message: str | None
    headers: dict[str, str]


def join_refusal(exc: QueueClosed | JoinRateLimited) -> JoinRefusal:
    """The answer to a join the room refused."""
    if isinstance(exc, JoinRateLimited):
        return JoinRefusal(429, "rate_limited", None, {"Retry-After": str(exc.retry_after)})
    return JoinRefusal(409, "queue_closed", CLOSED_MESSAGE, {})


@dataclass(frozen=True)
class PlaceView:
    """A place with its wait estimate and when to ask again."""

    place: Place
    estimate: WaitEstimate | None
    poll_after_ms: int
    # (queue number, rank in the draw or 0) of a visitor who may follow the board
    follow: tuple[int, int] | None = None

    def as_json(self) -> dict[str, Any]:
        """The public JSON fields of a place."""
        estimate = self.estimate
        body: dict[str, Any] = {
            "state": self.place.public_state,
            "position": None if self.place.awaiting_draw else self.place.position,
            "awaiting_draw": self.place.awaiting_draw,
            "eta_seconds": estimate.seconds if estimate else None,
            "eta_range_seconds": [estimate.low_seconds, estimate.high_seconds]
            if estimate
            else None,
            "poll_after_ms": self.poll_after_ms,
            "claim_deadline_ms": self.place.claim_deadline_ms or None,
        }
        if self.follow is not None:
            body["follow"] = {"number": self.follow[0], "rank": self.follow[1]}
        return body


# PlaceView.as_json() of a waiting visitor, as JSONResponse encodes it.
_WAITING_JSON = (
    '{"state":"waiting","position":%d,"awaiting_draw":false,"eta_seconds":%s,'
    '"eta_range_seconds":%s,"poll_after_ms":%d,"claim_deadline_ms":null%s}'
)


def waiting_json(position: int, estimate: WaitEstimate | None, poll_after: int,
                 follow: tuple[int, int] | None = None) -> bytes:
    """The encoded ``as_json()`` of a waiting visitor, written directly.

    The one answer a crowd asks for most; tests check it byte for byte against
    the dictionary encoded the usual way.
    """
    tail = "" if follow is None else f',"follow":{{"number":{follow[0]},"rank":{follow[1]}}}'
    if estimate is None:
        return (_WAITING_JSON % (position, "null", "null", poll_after, tail)).encode()
    eta_range = f"[{estimate.low_seconds},{estimate.high_seconds}]"
    return (_WAITING_JSON % (position, estimate.seconds, eta_range, poll_after, tail)).encode()


def poll_answer_from_snapshot(room: WaitingRoom, number: int) -> bytes | None:
    """The status body of a visitor ``room.poll_from_snapshot`` answers for, else None."""
    snapshot = room.snapshot
    found = room.follow_from_snapshot(number)
    if found is None or snapshot is None:
        return None
    position, rank = found
    # the position is the snapshot's: its wait, less the time since the snapshot was read
    estimate = room.estimate_from(snapshot, position, time.monotonic() - snapshot.taken_at)
    return waiting_json(position, estimate, poll_after_ms(position, rng=_rng),
                        None if rank is None else (number, rank))


async def view_place(room: WaitingRoom, place: Place) -> PlaceView:
    """Attach an estimate and a poll interval to a place."""
    if place.awaiting_draw:
        # Before the draw nobody's order is known, and every page of the pre-queue would
        # be told the same: it follows the board until the board shows the draw, then
        # asks once for its place (its rank). The drawn order admits without looking at
        # who polled lately, so a page that only followed loses nothing by it.
        follow = (place.number, 0) if place.state is VisitorState.WAITING else None
        return PlaceView(place, None, poll_after_ms(500, rng=_rng), follow)
    if place.state in (VisitorState.WAITING, VisitorState.SKIPPED):
        estimate = await room.estimate_for(place.position, place.number)
        rank = None
        if place.state is VisitorState.WAITING:
            rank = room.follow_rank(place.number, place.position)
        return PlaceView(place, estimate, poll_after_ms(place.position, rng=_rng),
                         None if rank is None else (place.number, rank))
    if place.state is VisitorState.ADMITTED:
        return PlaceView(place, WaitEstimate(0, 0, 0.0, False), 2000)
    return PlaceView(place, None, 0)


def browser_hash(state: PortalState, tag: str) -> str:
    """The keyed hash that stands for one browser in the room (joins, moves, claims)."""
    return state.signer.identity_hash("browser", tag)


async def join_queue(
    state: PortalState, browser: Browser, address: str, identities: list[str], *,
    booked: bool = False, proof: JoinProof | None = None,
) -> tuple[Place, str]:
    """Queue the visitor (booked: in the priority lane); return the place and its token.

    ``address`` is the hashed client address whose join bucket a walk-in draws from
    (``proof`` lets one past it). A booked visitor in their slot does not: their
    booking code, limited in attempts, holds one place only.
    A place is found again only from the browser that holds it: this browser's own
    identity always, and every identifier given (NIK, phone, e-mail, booking code)
    only together with this browser. Someone who knows a person's NIK joining from
    another browser gets a place of their own, never that person's.
    """
    settings = state.settings
    signer = state.signer
    # The browser's own hash comes first: the room compares it with a moved place's owner.
    bound = [browser_hash(state, browser.tag),
             *(signer.identity_hash("held-by", f"{browser.tag}|{identity}")
               for identity in identities)]
    place = await state.room.join(
        bound,
        address_hash=address,
        limit=None if booked else JoinLimit(settings.join_burst, settings.join_rate_per_minute),
        proof=proof,
        booked=booked,
    )
    token = state.signer.queue_token(
        QueueTicket(settings.room, place.number, int(time.time()), browser.tag)
    )
    return place, token


def queue_token_cookies(browser: Browser, token: str, *, secure: bool) -> list[bytes]:
    """The Set-Cookie values for a queue token (and the browser secret when it is new)."""
    remembered = browser_cookie(browser, secure=secure)
    queue = cookie_header(QUEUE_COOKIE, token, QUEUE_COOKIE_SECONDS, secure=secure)
    return [queue] if remembered is None else [remembered, queue]


def store_queue_token(response: Response, browser: Browser, token: str, *, secure: bool) -> None:
    """Set the browser and queue-token cookies on a response."""
    response.raw_headers.extend(
        (b"set-cookie", cookie) for cookie in queue_token_cookies(browser, token, secure=secure))


def open_door(state: PortalState, response: Response, browser: Browser) -> None:
    """Fail-open mode: a form session that does not need Redis, valid for an hour."""
    settings = state.settings
    expires = int(time.time()) + OPEN_DOOR_SECONDS
    session_id = f"{OPEN_DOOR_PREFIX}{expires}-{secrets.token_hex(8)}"
    token = state.signer.session_token(SessionTicket(settings.room, session_id, 0, browser.tag))
    remember_browser(response, browser, secure=settings.cookie_secure)
    set_cookie(response, SESSION_COOKIE, token, OPEN_DOOR_SECONDS,
               secure=settings.cookie_secure)


def redis_down(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot be reached: redis-py's connection and timeout
    errors, and uvloop refusing a write on a connection a failover closed (a
    RuntimeError redis-py lets through; see ``portal.errors.closed_transport``)."""
    return isinstance(exc, REDIS_DOWN) or closed_transport(exc)


def fails_open(state: PortalState) -> bool:
    """The fail mode in force: the last live setting this process read, else the default."""
    known = state.room.last_known_config()
    if known is not None:
        return known.fail_open
    return state.settings.room_defaults.fail_open


def open_door_grant(state: PortalState, ticket: SessionTicket) -> SessionGrant | None:
    """The grant of a fail-open session while fail-open is on and it has not expired."""
    if not ticket.session_id.startswith(OPEN_DOOR_PREFIX):
        return None
    if not fails_open(state):
        return None
    try:
        expires = int(ticket.session_id[len(OPEN_DOOR_PREFIX):].split("-", 1)[0])
    except ValueError:
        return None
    if expires <= time.time():
        return None
    return SessionGrant(ticket.session_id, expires * 1000, expires * 1000)


def start_session(
    state: PortalState, response: Response, ticket: QueueTicket, grant: SessionGrant
) -> None:
    """Set the session cookie for a session just granted."""
    token = state.signer.session_token(
        SessionTicket(ticket.room, grant.session_id, ticket.number, ticket.binding)
    )
    lifetime = max(60, (grant.hard_deadline_ms - int(time.time() * 1000)) // 1000 + 60)
    set_cookie(response, SESSION_COOKIE, token, lifetime, secure=state.settings.cookie_secure)
