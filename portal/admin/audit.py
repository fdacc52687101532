"""The audit log: who changed what, when, with the values before and after."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.admin.models import AuditEntry


def changed_values(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return only the keys whose value differs, as (before, after)."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after.get(key) for key in keys}


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    target: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    user_id: int | None = None,
    now: dt.datetime | None = None,
) -> AuditEntry:
    """Add an audit entry to the session (the caller commits)."""
    entry = AuditEntry(
        at=now or dt.datetime.now(dt.UTC), actor=actor[:80], action=action[:64],
        target=target[:120], before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None, user_id=user_id,
    )
    session.add(entry)
    return entry


def recent(session: Session, *, limit: int = 200, action: str | None = None,
           before_id: int | None = None) -> list[AuditEntry]:
    """The newest entries first, optionally of one action, older than ``before_id``."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))


def count(session: Session) -> int:
    """How many entries the log holds."""
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
