"""Proofs of work for joins past the bucket: difficulty, signing, verification (no services)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waitroom.proof import (
    BASE_BITS,
    CAP_BITS,
    CHALLENGE_SECONDS,
    TURN_SECONDS,
    ProofError,
    ProofSigner,
    covered_overage,
    difficulty,
    leading_zero_bits,
    meets,
    solve,
)

NOW = 1_800_000_000.0
SIGNER = ProofSigner("a-secret-of-the-test-app-0123456789")
tags = st.text(alphabet="abcdefABCDEF0123456789-_", min_size=1, max_size=16)


def test_difficulty_starts_low_and_gains_a_bit_per_doubling_in_minutes_of_refill() -> None:
    figures = {owed: difficulty(owed, 60) for owed in (0, 1, 59, 60, 179, 180, 419, 420,
                                                       15_299, 15_300, 10**9)}
    assert figures == {0: 14, 1: 14, 59: 14, 60: 15, 179: 15, 180: 16, 419: 16, 420: 17,
                       15_299: 21, 15_300: 22, 10**9: 22}


@given(owed=st.integers(min_value=-10, max_value=10**12),
       more=st.integers(min_value=0, max_value=10**6),
       per_minute=st.integers(min_value=1, max_value=10**5))
def test_difficulty_is_bounded_and_never_falls_as_the_overage_grows(owed: int, more: int,
                                                                    per_minute: int) -> None:
    bits = difficulty(owed, per_minute)
    assert BASE_BITS <= bits <= CAP_BITS
    assert difficulty(owed + more, per_minute) >= bits
    # one more bit each time the overage (in minutes of refill, plus one) doubles
    doubled = 2 * (max(0, owed) + per_minute) - per_minute
    assert difficulty(doubled, per_minute) == min(CAP_BITS, bits + 1)


@given(owed=st.integers(min_value=0, max_value=10**9),
       per_minute=st.integers(min_value=1, max_value=10**4))
def test_a_proof_pays_for_exactly_the_overages_of_its_difficulty(owed: int,
                                                                 per_minute: int) -> None:
    bits = difficulty(owed, per_minute)
    covers = covered_overage(bits, per_minute)
    assert covers == -1 if bits == CAP_BITS else owed <= covers
    if covers >= 0:
        assert difficulty(covers, per_minute) == bits
        assert difficulty(covers + 1, per_minute) == bits + 1


@given(data=st.binary(min_size=32, max_size=32))
def test_leading_zero_bits_counts_the_digest_s_first_zeros(data: bytes) -> None:
    count = leading_zero_bits(data)
    bits = "".join(f"{byte:08b}" for byte in data)
    assert count == len(bits) - len(bits.lstrip("0"))


@given(address=tags, browser=tags, bits=st.integers(min_value=1, max_value=10))
def test_a_solved_challenge_verifies_for_its_owner_only(address: str, browser: str,
                                                        bits: int) -> None:
    challenge = SIGNER.challenge("main", bits, address, browser, NOW)
    nonce = solve(challenge.token, bits)
    assert meets(challenge.token, nonce, bits)
    digest = hashlib.sha256((challenge.token + nonce).encode()).digest()
    assert leading_zero_bits(digest) >= bits
    solved = SIGNER.check_proof(challenge.token, nonce, "main", address, browser, NOW + 1)
    assert solved.proof_id == challenge.proof_id and solved.bits == bits
    for room, other_address, other_browser in (("other", address, browser),
                                               ("main", address + "x", browser),
                                               ("main", address, browser + "x")):
        with pytest.raises(ProofError) as refused:
            SIGNER.check_proof(challenge.token, nonce, room, other_address, other_browser, NOW)
        assert refused.value.reason == "foreign"


def test_expired_forged_and_wrong_proofs_are_refused() -> None:
    challenge = SIGNER.challenge("main", 8, "addr", "tag", NOW)
    nonce = solve(challenge.token, 8)
    with pytest.raises(ProofError, match="expired"):
        SIGNER.check_proof(challenge.token, nonce, "main", "addr", "tag",
                           NOW + CHALLENGE_SECONDS + 1)
    # an easier challenge written by hand: the signature no longer fits
    easier = challenge.token.replace("p1.8.", "p1.1.", 1)
    with pytest.raises(ProofError, match="forged"):
        SIGNER.check_proof(easier, solve(easier, 1), "main", "addr", "tag", NOW)
    other_app = ProofSigner("another-app-s-secret-0123456789abcdef")
    forged = other_app.challenge("main", 1, "addr", "tag", NOW)
    with pytest.raises(ProofError, match="forged"):
        SIGNER.check_proof(forged.token, solve(forged.token, 1), "main", "addr", "tag", NOW)
    wrong = next(str(n) for n in range(10**6) if not meets(challenge.token, str(n), 8))
    with pytest.raises(ProofError, match="wrong"):
        SIGNER.check_proof(challenge.token, wrong, "main", "addr", "tag", NOW)
    for junk in ("", "12a", "1" * 40, "١٢"):
        with pytest.raises(ProofError, match="malformed"):
            SIGNER.check_proof(challenge.token, junk, "main", "addr", "tag", NOW)
    for junk in ("", "p1", "x" * 500, "p1.8.1.a.b.c.main"):
        with pytest.raises(ProofError):
            SIGNER.check_proof(junk, nonce, "main", "addr", "tag", NOW)


def test_a_turn_ticket_is_due_from_its_time_until_it_lapses() -> None:
    start = int(NOW) + 20
    ticket = SIGNER.turn_ticket("main", "addr", "tag", start)
    with pytest.raises(ProofError) as early:
        SIGNER.read_turn_ticket(ticket.token, "main", "addr", "tag", NOW)
    assert early.value.reason == "early" and early.value.wait_seconds == 20
    due = SIGNER.read_turn_ticket(ticket.token, "main", "addr", "tag", start)
    assert due.proof_id == ticket.proof_id != SIGNER.turn_ticket("main", "addr", "tag",
                                                                 start).proof_id
    with pytest.raises(ProofError, match="expired"):
        SIGNER.read_turn_ticket(ticket.token, "main", "addr", "tag", start + TURN_SECONDS + 1)
    with pytest.raises(ProofError, match="foreign"):
        SIGNER.read_turn_ticket(ticket.token, "main", "addr", "other", start)
    # a challenge is not a ticket, nor the other way round
    challenge = SIGNER.challenge("main", 1, "addr", "tag", NOW)
    with pytest.raises(ProofError, match="malformed"):
        SIGNER.read_turn_ticket(challenge.token, "main", "addr", "tag", NOW)
    with pytest.raises(ProofError, match="malformed"):
        SIGNER.read_challenge(ticket.token, "main", "addr", "tag", NOW)


@given(room=st.text(alphabet="abc.-_", min_size=1, max_size=8))
def test_room_names_with_dots_survive_the_round_trip(room: str) -> None:
    challenge = SIGNER.challenge(room, 3, "addr", "tag", NOW)
    assert SIGNER.read_challenge(challenge.token, room, "addr", "tag", NOW).room == room
