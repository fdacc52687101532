"""Proving a NIK in tests: ask for the code, read it where the notifier would send it, type it."""

from __future__ import annotations

import email.policy
import re
import weakref
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import redis
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.db import create_db_engine, session_factory
from portal.notify.channels import list_outbox
from portal.notify.models import Notification
from portal.notify.settings import NotifySettings
from scheduler.roster import parse_roster
from scheduler.store import import_registrants
from tests.support.jobs import work_jobs


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


def import_roster(database_url: str, csv: str) -> None:
    """Put the rows of a roster CSV in the database as the console's import does."""
    report = parse_roster(csv.encode(), "peserta.csv")
    assert report.bad_rows == (), report.bad_rows_csv()
    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session:
            import_registrants(session, report)
            session.commit()
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Delivered:
    """One one-time code as it reached a recipient through the development outbox."""

    channel: str  # sms | email
    recipient: str
    code: str
    kind: str = "identity"  # or "recovery": a draft's recovery code


def deliver_codes(notify: NotifySettings, redis_client: redis.Redis) -> list[Delivered]:
    """Run the queued jobs (as `antrean worker` would) and read every code in the outbox.

    One-time codes and drafts' recovery codes alike, each with its kind.
    """
    assert notify.outbox, "these settings send for real, not to the outbox"
    seen = {entry.name for entry in list_outbox(notify.outbox_dir)}
    work_jobs(notify, redis_client)
    found = []
    for entry in reversed(list_outbox(notify.outbox_dir)):  # oldest first
        if entry.name in seen:
            continue
        if entry.channel == "email":
            with open(entry.path, "rb") as handle:
                message = BytesParser(policy=email.policy.default).parse(handle)
            assert isinstance(message, EmailMessage)
            part = message.get_body(preferencelist=("plain",))
            assert part is not None, entry.name
            text = str(part.get_content())
        else:
            text = entry.path.read_text().partition("\n\n")[2]
        recovery = re.search(r"pemulihan draf Anda:? ([0-9A-Z]{4}-[0-9A-Z]{4})", text)
        if recovery is not None:
            found.append(Delivered(entry.channel, entry.recipient, recovery.group(1), "recovery"))
            continue
        code = re.search(r"\b(\d{6})\b", text)
        assert code is not None, f"no code in {entry.name}: {text!r}"
        found.append(Delivered(entry.channel, entry.recipient, code.group(1)))
    return found
