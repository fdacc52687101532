"""The public JSON API, v1."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.browser import (
    SESSION_COOKIE,
    Browser,
    address_hash,
    browser_cookie,
    browser_of,
    queue_ticket,
    session_ticket,
)
from portal.errors import ApiError
from portal.middleware import BOARD_CACHE
from portal.state import PortalState, state_of
from portal.visitor.gate import (
    PROOF_PROBLEMS,
    PROOF_REQUIRED,
    ProofRequired,
    gate_of,
    join_through_gate,
)
from portal.visitor.offers import offer_for_wait
from portal.visitor.place import (
    JOIN_REFUSED,
    PlaceView,
    browser_hash,
    join_refusal,
    queue_token_cookies,
    start_session,
    view_place,
    waiting_json,
)
from portal.web import checked_fields, json_body
from scheduler.nik import validate_nik
from scheduler.roster import validate_email, validate_phone
from waitroom.room import PlaceMoved
from waitroom.states import VisitorState
from waitroom.tokens import ForeignToken, QueueTicket, SessionTicket, TokenError, TokenSigner


def _queue_ticket(request: Request, token: str) -> QueueTicket:
    try:
        return queue_ticket(state_of(request), request, token, time.time())
    except ForeignToken as exc:
        raise ApiError(403, "foreign_browser", "Token ini milik peramban lain.") from exc
    except TokenError as exc:
        raise ApiError(401, "invalid_token", "Token antrean tidak sah atau kedaluwarsa.") from exc


def _identities(signer: TokenSigner, body: dict[str, Any]) -> list[str]:
    cleaned, fields = checked_fields(
        body, (("nik", validate_nik), ("phone", validate_phone), ("email", validate_email)))
    if fields:
        raise ApiError(422, "invalid_fields", "Ada data yang tidak valid.", fields)
    return [signer.identity_hash(name, value) for name, value in cleaned.items() if value]


# What starlette.responses.JSONResponse writes.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _json_string(text: str) -> bytes:
    """``text`` encoded as a JSON string, as ``_encode`` writes it."""
    # A token is printable ASCII with no quote or backslash: nothing to escape.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return b'"%s"' % text.encode()
    return _encode(text).encode()


@dataclass(frozen=True)
class Joined:
    """The answer to a join: status code, the place with its token and offer, and the
    cookies to set."""

    status: int
    token: str
    view: PlaceView
    offer: dict[str, Any] | None
    cookies: list[bytes]

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {"token": self.token, **self.view.as_json(), "offer": self.offer}

    def encoded(self) -> bytes:
        """The JSON body as JSONResponse encodes it; a plain waiting place's written
        directly (``waiting_json``), as most joins on a busy day are."""
        view, place = self.view, self.view.place
        if self.offer is None and place.state is VisitorState.WAITING \
                and not place.awaiting_draw and not place.claim_deadline_ms:
            fields = waiting_json(place.position, view.estimate, view.poll_after_ms,
                                  view.follow)
            return b'{"token":%s,%s,"offer":null}' % (_json_string(self.token), fields[1:-1])
        return _encode(self.body()).encode()


async def join_visitor(state: PortalState, browser: Browser, address: str,
                      body: dict[str, Any]) -> Joined:
    """Queue the visitor a join request comes from: its browser, its hashed client
    address (``portal.browser.address_hash``) and its parsed body.

    Shared by the route below and the hot path in portal.visitor.hotpath, which calls it
    without the framework's layers; raises ApiError (and Redis errors) for the
    caller's error handling.
    """
    identities = _identities(state.signer, body)
    now = time.time()
    proof = body.get("proof")
    if "proof" in body and not isinstance(proof, dict):
        raise ApiError(422, "invalid_fields", "Ada data yang tidak valid.",
                       {"proof": "Harus berupa objek dengan challenge dan nonce."})
    _check_proof(proof or {})
    gate = gate_of(state, address, browser, (proof or {}).get("challenge"),
                   (proof or {}).get("nonce"), now)
    try:
        place, token = await join_through_gate(state, gate, identities, now)
    except ProofRequired as exc:
        problem = PROOF_PROBLEMS.get(exc.problem or "")
        raise ApiError(429, "proof_required", PROOF_REQUIRED,
                       {"proof": problem} if problem else None,
                       headers=_proof_headers(browser, exc.retry_after,
                                              secure=state.settings.cookie_secure),
                       details={"challenge": exc.as_json(now)}) from exc
    except JOIN_REFUSED as exc:
        refusal = join_refusal(exc)
        raise ApiError(refusal.status, refusal.code, refusal.message,
                       headers=refusal.headers) from exc
    view = await view_place(state.room, place)
    offer = await offer_for_wait(state, view.estimate.seconds if view.estimate else None) \
        if place.state is VisitorState.WAITING else None
    return Joined(201 if place.is_new else 200, token, view, offer,
                  queue_token_cookies(browser, token, secure=state.settings.cookie_secure))


PROOF_LIMITS = {"challenge": 400, "nonce": 32}


def _check_proof(proof: dict[str, Any]) -> None:
    """Refuse a proof whose challenge or nonce is not text of the documented length."""
    fields = {name: f"Harus berupa teks paling panjang {limit} karakter."
              for name, limit in PROOF_LIMITS.items()
              if name in proof and not (isinstance(proof[name], str)
                                        and len(proof[name]) <= limit)}
    if fields:
        raise ApiError(422, "invalid_fields", "Ada data yang tidak valid.",
                       {"proof": " ".join(f"{name}: {text}" for name, text in fields.items())})


def _proof_headers(browser: Browser, retry_after: int, *, secure: bool) -> dict[str, str]:
    # The challenge is bound to this browser: a new one must keep its secret to answer it.
    headers = {"Retry-After": str(retry_after)}
    cookie = browser_cookie(browser, secure=secure)
    if cookie is not None:
        headers["Set-Cookie"] = cookie.decode()
    return headers


async def join(request: Request) -> Response:
    joined = await join_visitor(state_of(request), browser_of(request), address_hash(request),
                                await json_body(request))
    response = Response(joined.encoded(), status_code=joined.status,
                        media_type="application/json")
    response.raw_headers.extend((b"set-cookie", cookie) for cookie in joined.cookies)
    return response


async def status(request: Request) -> Response:
    token = request.path_params["token"]
    ticket = _queue_ticket(request, token)
    room = state_of(request).room
    place = room.poll_from_snapshot(ticket.number) or await room.poll(ticket.number)
    view = await view_place(room, place)
    body = view.as_json()
    if body["state"] == "admitted":
        body["enter_url"] = f"/api/v1/queue/{token}/enter"
    return JSONResponse(body)


async def enter(request: Request) -> Response:
    state = state_of(request)
    ticket = _queue_ticket(request, request.path_params["token"])
    try:
        grant = await state.room.enter(ticket.number, browser_hash(state, ticket.binding))
    except PlaceMoved as exc:
        raise ApiError(409, "place_moved",
                       "Nomor antrean ini sudah dipindahkan ke perangkat lain.") from exc
    if grant is None:
        raise ApiError(409, "not_admitted", "Belum ada giliran untuk diklaim, atau sudah lewat.")
    response = JSONResponse({
        "expires_at": _iso(grant.idle_deadline_ms),
        "session_expires_at": _iso(grant.hard_deadline_ms),
        "form_url": "/formulir",
    })
    start_session(state, response, ticket, grant)
    return response


def _session(request: Request) -> SessionTicket:
    try:
        return session_ticket(state_of(request), request, request.cookies.get(SESSION_COOKIE))
    except ForeignToken as exc:
        raise ApiError(403, "foreign_browser", "Sesi ini milik peramban lain.") from exc
    except TokenError as exc:
        raise ApiError(401, "no_session", "Tidak ada sesi formulir yang aktif.") from exc


async def heartbeat(request: Request) -> Response:
    ticket = _session(request)
    grant = await state_of(request).room.heartbeat(ticket.session_id)
    if grant is None:
        raise ApiError(409, "session_over", "Sesi formulir sudah berakhir.")
    return JSONResponse({"expires_at": _iso(grant.idle_deadline_ms),
                         "session_expires_at": _iso(grant.hard_deadline_ms)})


async def finish(request: Request) -> Response:
    ticket = _session(request)
    live = await state_of(request).room.finish(ticket.session_id)
    response = JSONResponse({"finished": live})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def board(request: Request) -> Response:
    """The board far-back pages follow (``waitroom.board``); the hot path answers it while
    the snapshot is fresh, this when it is not."""
    state = state_of(request)
    await state.room.current(max_age=1.0)
    body = state.room.board(max_age=5.0) or b""
    response = Response(body, media_type="application/json")
    response.headers["Cache-Control"] = BOARD_CACHE[1].decode()
    return response


async def stats(request: Request) -> Response:
    snapshot = await state_of(request).room.stats()
    estimate = snapshot.estimate_for_new
    return JSONResponse({
        "waiting": snapshot.waiting,
        "active": snapshot.active + snapshot.admitted_unclaimed,
        "max_active": snapshot.max_active,
        "admit_per_minute": snapshot.admit_per_minute,
        "paused": snapshot.paused,
        "eta_seconds_for_new": estimate.seconds if estimate else None,
    })


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


class QueueToken(StringConvertor):
    """A queue token in a path: one segment, never one of the queue API's own names.

    Without it ``GET /api/v1/queue/join`` would be a status poll of the token
    "join", and a 405 there would have to allow GET.
    """

    regex = r"(?!(?:join|stats|board)(?![^/]))[^/]+"


register_url_convertor("queue_token", QueueToken())

routes = [
    Route("/api/v1/queue/join", join, methods=["POST"]),
    Route("/api/v1/queue/stats", stats, methods=["GET"]),
    Route("/api/v1/queue/board", board, methods=["GET"]),
    Route("/api/v1/queue/{token:queue_token}", status, methods=["GET"]),
    Route("/api/v1/queue/{token:queue_token}/enter", enter, methods=["POST"]),
    Route("/api/v1/session/heartbeat", heartbeat, methods=["POST"]),
    Route("/api/v1/session/finish", finish, methods=["POST"]),
]
