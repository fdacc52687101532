"""The join gate: an address past its bucket joins with a proof of work, or in the slow lane.

Every join takes a token from its address's bucket (``ANTREAN_JOIN_BURST``, refilled
at ``ANTREAN_JOIN_RATE_PER_MINUTE``). Past it, the join is answered 429
``proof_required`` with a signed challenge (see ``waitroom.proof``); the page solves
it in the browser and sends the join again, an API client does the same. A
browser without JavaScript takes a turn ticket of the address's slow lane instead,
and its page comes back by itself when the ticket is due.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.browser import Browser, address_hash, browser_of
from portal.errors import error_page
from portal.i18n import N_
from portal.state import PortalState, state_of
from portal.visitor.place import CLOSED_MESSAGE, join_queue, store_queue_token
from portal.web import render
from waitroom.proof import (
    LANE_DELAY_MS,
    LANE_MAX_WAIT_MS,
    LANE_SPACING_MS,
    Challenge,
    ProofError,
    covered_overage,
    difficulty,
)
from waitroom.room import JoinProof, JoinRateLimited, Place, ProofUsed, QueueClosed

PROOF_REQUIRED = N_("Banyak yang mengambil nomor antrean dari alamat jaringan Anda. Untuk "
                    "melanjutkan, peramban Anda perlu menyelesaikan hitungan kecil.")
PROOF_PROBLEMS = {
    "expired": N_("Hitungan sebelumnya sudah kedaluwarsa; ini hitungan baru."),
    "used": N_("Hitungan ini sudah dipakai; ini hitungan baru."),
    "outrun": N_("Hitungan ini sudah terlalu ringan untuk antrean dari alamat jaringan Anda "
                  "saat ini; ini hitungan baru."),
    "wrong": N_("Jawaban hitungan tidak tepat; ini hitungan baru."),
    "foreign": N_("Hitungan ini dibuat untuk peramban atau jaringan lain; ini hitungan baru."),
    "forged": N_("Hitungan ini tidak sah; ini hitungan baru."),
    "malformed": N_("Hitungan ini tidak dapat dibaca; ini hitungan baru."),
}
LANE_RENEWED = N_("Tiket giliran sebelumnya tidak berlaku lagi; ini giliran baru.")
LANE_FULL = N_("Jalur tanpa JavaScript dari alamat jaringan Anda sedang penuh. Coba lagi dalam "
               "beberapa menit, atau aktifkan JavaScript.")


class ProofRequired(Exception):
    """A join past the bucket without a valid proof: here is a fresh challenge."""

    def __init__(self, challenge: Challenge, retry_after: int, problem: str | None) -> None:
        super().__init__("proof_required")
        self.challenge = challenge
        self.retry_after = retry_after
        self.problem = problem

    def as_json(self, now: float) -> dict[str, Any]:
        """The ``challenge`` member of the API's error body."""
        challenge = self.challenge
        return {
            "algorithm": "sha256-leading-zero-bits",
            "challenge": challenge.token,
            "bits": challenge.bits,
            "expires_in_seconds": max(0, challenge.expires_at - int(now)),
            "submit_as": {"proof": {"challenge": challenge.token, "nonce": "<digits>"}},
        }


@dataclass(frozen=True)
class Gate:
    """One join's passage: the browser, its hashed address, and the proof it brought."""

    browser: Browser
    address: str
    proof: JoinProof | None
    problem: str | None


def gate_of(state: PortalState, address: str, browser: Browser,
            challenge: object, nonce: object, now: float) -> Gate:
    """Read the proof a join brought (none, or the reason it does not count) from the
    hashed client ``address`` (``portal.browser.address_hash``)."""
    if challenge is None or challenge == "":
        return Gate(browser, address, None, None)
    if browser.is_new or not isinstance(challenge, str) or not isinstance(nonce, str):
        return Gate(browser, address, None, "foreign" if browser.is_new else "malformed")
    try:
        solved = state.proofs.check_proof(challenge, nonce, state.settings.room, address,
                                          browser.tag, now)
    except ProofError as exc:
        return Gate(browser, address, None, exc.reason)
    covers = covered_overage(solved.bits, state.settings.join_rate_per_minute)
    return Gate(browser, address, _proof(solved.proof_id, solved.expires_at, now, covers), None)


def _proof(proof_id: str, expires_at: int, now: float, covers: int = -1) -> JoinProof:
    # The marker must outlive the last moment the proof could be shown again.
    return JoinProof(proof_id, int((expires_at - now) * 1000) + 2000, covers)


async def join_through_gate(state: PortalState, gate: Gate, identities: list[str],
                            now: float) -> tuple[Place, str]:
    """Queue the visitor if the bucket or their proof lets them; raise ProofRequired.

    A proof that was used already is set aside and the bucket asked alone.
    """
    problem = gate.problem
    try:
        try:
            return await join_queue(state, gate.browser, gate.address, identities,
                                    proof=gate.proof)
        except ProofUsed:
            problem = "used"
            return await join_queue(state, gate.browser, gate.address, identities)
    except JoinRateLimited as exc:
        if gate.proof is not None and problem is None:
            problem = "outrun"  # others from the address paid for their joins meanwhile
        bits = difficulty(exc.overage, state.settings.join_rate_per_minute)
        challenge = state.proofs.challenge(state.settings.room, bits, gate.address,
                                           gate.browser.tag, now)
        raise ProofRequired(challenge, exc.retry_after, problem) from exc


def proof_page(request: Request, refused: ProofRequired) -> Response:
    """The page that solves the challenge in the browser, with the slow lane beside it."""
    return render(request, "proof.html", {
        "challenge": refused.challenge,
        "problem": PROOF_PROBLEMS.get(refused.problem or ""),
        "retry_after": refused.retry_after,
    }, status=429, headers={"Retry-After": str(refused.retry_after)})


async def lane(request: Request) -> Response:
    """The slow lane: a turn ticket, its wait, and the join once it is due."""
    state = state_of(request)
    settings = state.settings
    browser = browser_of(request)
    address = address_hash(request)
    now = time.time()
    token = request.query_params.get("tiket", "")
    problem = None
    if token and not browser.is_new:
        try:
            ticket = state.proofs.read_turn_ticket(token, settings.room, address, browser.tag,
                                                   now)
        except ProofError as exc:
            if exc.reason == "early":
                return _lane_page(request, browser, token, exc.wait_seconds)
            problem = exc.reason
        else:
            gate = Gate(browser, address, _proof(ticket.proof_id, ticket.expires_at, now), None)
            try:
                _place, queue_token = await join_through_gate(state, gate, [], now)
            except QueueClosed:
                return error_page(request, 409, "queue_closed", CLOSED_MESSAGE)
            except ProofRequired:
                problem = "used"  # this ticket was taken already: a new one
            else:
                response = RedirectResponse("/antre", status_code=303)
                store_queue_token(response, browser, queue_token,
                                  secure=settings.cookie_secure)
                return response
    due = await state.room.lane_turn(address, delay_ms=LANE_DELAY_MS,
                                     spacing_ms=LANE_SPACING_MS, max_wait_ms=LANE_MAX_WAIT_MS)
    if due is None:
        return error_page(request, 429, "lane_full", LANE_FULL,
                          headers={"Retry-After": "60"}, retry_after=60)
    not_before = -(-due // 1000)
    ticket = state.proofs.turn_ticket(settings.room, address, browser.tag, not_before)
    return _lane_page(request, browser, ticket.token, max(1, not_before - int(now)),
                      problem=LANE_RENEWED if problem else None)


def _lane_page(request: Request, browser: Browser, token: str, wait_seconds: int,
               problem: str | None = None) -> Response:
    return render(request, "lane.html", {"ticket": token, "wait_seconds": wait_seconds,
                                         "problem": problem},
                  browser=browser, headers={"Cache-Control": "no-store"})


routes = [Route("/antre/giliran", lane, methods=["GET"])]
