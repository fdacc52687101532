"""API tokens made in the console: shown once, kept as a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.admin.models import AdminToken

TOKEN_PREFIX = "atk_"


def token_hash(token: str) -> str:
    """The stored form of a token (tokens are random, so a plain hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, created_by: int | None) -> tuple[AdminToken, str]:
    """Add a token (the caller commits); return its row and the token, shown only now."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AdminToken(name=name.strip()[:64] or "token", token_hash=token_hash(token),
                     created_by=created_by)
    session.add(row)
    session.flush()
    return row, token


def find_token(session: Session, token: str) -> AdminToken | None:
    """The live (not revoked) token row for a presented token, marking it used."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.scalar(select(AdminToken).where(AdminToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = dt.datetime.now(dt.UTC)
    return row


def list_tokens(session: Session) -> list[AdminToken]:
    """Every token, newest first."""
    return list(session.scalars(select(AdminToken).order_by(AdminToken.id.desc())))


def revoke_token(session: Session, token_id: int) -> AdminToken | None:
    """Revoke a token (the caller commits); None when there is no such live token."""
    row = session.get(AdminToken, token_id)
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = dt.datetime.now(dt.UTC)
    return row
