"""Token signing: round trips, tampering, foreign browsers, expiry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waitroom.tokens import (
    ForeignToken,
    QueueTicket,
    SessionTicket,
    TokenError,
    TokenSigner,
    binding_tag,
)

SIGNER = TokenSigner("k" * 32, max_age_seconds=3600)
rooms = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
secrets_ = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_", min_size=16,
                   max_size=40)


@given(room=rooms, number=st.integers(1, 10**12), issued=st.integers(0, 2**40), secret=secrets_)
def test_queue_token_round_trips(room: str, number: int, issued: int, secret: str) -> None:
    ticket = QueueTicket(room, number, issued, binding_tag(secret))
    token = SIGNER.queue_token(ticket)
    assert SIGNER.read_queue_token(token, secret, issued + 10) == ticket


@given(number=st.integers(1, 10**9), secret=secrets_, data=st.data())
def test_any_single_character_change_is_refused(number: int, secret: str,
                                                 data: st.DataObject) -> None:
    token = SIGNER.queue_token(QueueTicket("main", number, 1000, binding_tag(secret)))
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from("0123456789abcdefXYZ.-_"))
    tampered = token[:index] + replacement + token[index + 1:]
    if tampered == token:
        return
    with pytest.raises(TokenError):
        SIGNER.read_queue_token(tampered, secret, 1001)


@given(secret=secrets_, other=secrets_)
def test_token_from_another_browser_is_foreign(secret: str, other: str) -> None:
    token = SIGNER.queue_token(QueueTicket("main", 5, 1000, binding_tag(secret)))
    if other == secret:
        return
    with pytest.raises(ForeignToken):
        SIGNER.read_queue_token(token, other, 1001)
    with pytest.raises(ForeignToken):
        SIGNER.read_queue_token(token, None, 1001)


def test_expired_and_garbage_tokens_are_refused() -> None:
    token = SIGNER.queue_token(QueueTicket("main", 5, 1000, binding_tag("s" * 20)))
    with pytest.raises(TokenError, match="expired"):
        SIGNER.read_queue_token(token, "s" * 20, 1000 + 3601)
    for garbage in ["", ".", "a.b.c.d.e", "x" * 600, "main.5.1000.tag", "é.1.2.3.4"]:
        with pytest.raises(TokenError):
            SIGNER.read_queue_token(garbage, "s" * 20, 1000)


def test_a_token_signed_with_another_key_is_refused() -> None:
    other = TokenSigner("z" * 32)
    token = other.queue_token(QueueTicket("main", 5, 1000, binding_tag("s" * 20)))
    with pytest.raises(TokenError, match="bad_signature"):
        SIGNER.read_queue_token(token, "s" * 20, 1000)


@given(sid=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8, max_size=32),
       secret=secrets_)
def test_session_token_round_trips_and_is_not_a_queue_token(sid: str, secret: str) -> None:
    ticket = SessionTicket("main", sid, 7, binding_tag(secret))
    token = SIGNER.session_token(ticket)
    assert SIGNER.read_session_token(token, secret) == ticket
    with pytest.raises(TokenError):
        SIGNER.read_queue_token(token, secret, 0)


def test_identity_hash_is_keyed_and_hides_the_value() -> None:
    a = SIGNER.identity_hash("nik", "3601284811855133")
    assert a == SIGNER.identity_hash("nik", "3601284811855133")
    assert a != TokenSigner("z" * 32).identity_hash("nik", "3601284811855133")
    assert "3601" not in a
    with pytest.raises(ValueError):
        TokenSigner("short")


@given(room=rooms, number=st.integers(1, 10**9), joined=st.integers(0, 2**40))
def test_arrival_codes_verify_and_resist_tampering(room: str, number: int, joined: int) -> None:
    code = SIGNER.arrival_code(room, number, joined)
    ticket = SIGNER.read_arrival_code(code)
    assert (ticket.room, ticket.number, ticket.issued_at) == (room, number, joined)
    forged = code.replace(f".{number}.", f".{number + 1}.", 1)
    with pytest.raises(TokenError):
        SIGNER.read_arrival_code(forged)
    with pytest.raises(TokenError):
        TokenSigner("z" * 32).read_arrival_code(code)


@given(key=st.binary(min_size=16, max_size=200), message=st.binary(max_size=300))
def test_the_prepared_hmac_is_hmac_sha256(key: bytes, message: bytes) -> None:
    import hashlib
    import hmac

    from waitroom.tokens import _Hmac

    assert _Hmac(key).digest(message) == hmac.new(key, message, hashlib.sha256).digest()
