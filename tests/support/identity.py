"""Proving a NIK in tests: ask for the code, read it where the notifier would send it, type it."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from portal.db import create_db_engine, session_factory
from portal.notify.models import Notification


def latest_code(database_url: str, address: str | None = None) -> str | None:
    """The newest one-time code queued for delivery (to ``address`` when given)."""
    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session:
            query = select(Notification).where(Notification.purpose == "identity_code")
            if address is not None:
                query = query.where(Notification.address == address)
            record = session.scalars(query.order_by(Notification.id.desc()).limit(1)).first()
            return None if record is None else str(record.context["otp"])
    finally:
        engine.dispose()


def prove(client: TestClient, nik: str, **contact: Any) -> str:
    """Prove ``nik`` in this client's browser through the JSON API; return the code used."""
    app: Any = client.app
    sent = client.post("/api/v1/identity/code", json={"nik": nik, **contact})
    assert sent.status_code == 202, sent.text
    code = latest_code(app.state.portal.settings.database_url)
    assert code is not None, "no code was queued"
    verified = client.post("/api/v1/identity/verify", json={"nik": nik, "code": code})
    assert verified.status_code == 200, verified.text
    return code


_PROVED: weakref.WeakKeyDictionary[TestClient, set[str]] = weakref.WeakKeyDictionary()


def ensure_proved(client: TestClient, nik: str, **contact: Any) -> None:
    """Prove ``nik`` in this client's browser unless it did already (codes are limited)."""
    done = _PROVED.setdefault(client, set())
    if nik not in done:
        prove(client, nik, **contact)
        done.add(nik)
