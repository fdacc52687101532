"""Drafts and submissions in SQL; the caller owns the transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.form.models import Draft, Submission
from scheduler.nik import clean_nik

# Crockford's base32 without I, L, O, U: nothing to misread on a phone screen.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class AlreadyRegistered(Exception):
    """A different submission already holds this NIK."""


def new_registration_number(prefix: str = "REG") -> str:
    """Return a fresh registration number like ``REG-7K3F-9Q2M``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{prefix}-{chars[:4]}-{chars[4:]}"


def load_draft(session: Session, owner: str) -> Draft | None:
    """Return the draft this browser typed, if any."""
    return session.scalars(select(Draft).where(Draft.owner == owner)).one_or_none()


# A draft that was submitted, or taken to another browser, leaves only this mark (no
# personal data) in the browser it left: the form session that last wrote it there
# writes nothing more, so an autosave still on its way (a page closed later, a tab left
# open) cannot bring the draft back. A later session of that browser starts afresh.
SUBMITTED = "_closed_for_session"
# The form session that last wrote a draft.
WRITER = "_session"


def close_draft(session: Session, owner: str, form_session: str) -> None:
    """After a submission: empty this browser's draft, keeping only who submitted it."""
    draft = load_draft(session, owner)
    if draft is not None:
        draft.data = {SUBMITTED: form_session}
        draft.nik = None
        session.flush()


def save_draft(session: Session, owner: str, values: dict[str, Any],
               form_session: str | None = None) -> Draft:
    """Merge values into this browser's draft (only fields present are replaced).

    Autosaves and uploads of one browser arrive concurrently; each merge first
    takes the draft's write lock (a row lock on PostgreSQL, the database write
    lock on SQLite) so that no merge overwrites another's fields. A write from
    the form session that already submitted this draft changes nothing.
    """
    session.execute(
        update(Draft).where(Draft.owner == owner).values(updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    draft = load_draft(session, owner)
    if draft is not None:
        session.refresh(draft)  # read what the lock holder before us committed
    else:
        draft = Draft(owner=owner, data={})
        try:
            with session.begin_nested():
                session.add(draft)
                session.flush()
        except IntegrityError:
            # Created a moment ago by a concurrent request: merge into that one.
            return save_draft(session, owner, values, form_session)
    merged = dict(draft.data or {})
    if SUBMITTED in merged:
        if form_session is not None and merged[SUBMITTED] == form_session:
            return draft
        merged = {}  # a new session after a submission: a new, empty draft
    merged.update(values)
    if form_session is not None:
        merged[WRITER] = form_session
    draft.data = merged
    # As people type it ("3601 2848 1185 5133", with dashes or dots): stored as digits,
    # so the draft is found again by the NIK however it was written.
    nik = clean_nik(str(merged.get("nik") or ""))
    draft.nik = nik if len(nik) == 16 and nik.isdigit() else None
    session.flush()
    return draft


def submission_by_key(session: Session, idempotency_key: str) -> Submission | None:
    """Return the submission stored for a submit attempt key."""
    return session.scalars(
        select(Submission).where(Submission.idempotency_key == idempotency_key)
    ).one_or_none()


def store_submission(
    session: Session,
    *,
    idempotency_key: str,
    nik: str,
    name: str,
    data: dict[str, Any],
    queue_number: int | None,
) -> tuple[Submission, bool]:
    """Store a submission once; return it and whether it was new.

    The same key returns the stored record (double click, back button, retry);
    a NIK already submitted under another key raises AlreadyRegistered.
    """
    existing = submission_by_key(session, idempotency_key)
    if existing is not None:
        return existing, False
    # Set here, to the second: the receipt's seal signs this moment, and every
    # database must give back exactly what was signed.
    received = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for _attempt in range(5):
        submission = Submission(
            created_at=received,
            registration_number=new_registration_number(),
            idempotency_key=idempotency_key,
            nik=nik,
            name=name,
            data=data,
            queue_number=queue_number,
        )
        try:
            with session.begin_nested():
                session.add(submission)
                session.flush()
        except IntegrityError:
            existing = submission_by_key(session, idempotency_key)
            if existing is not None:
                return existing, False
            taken = session.scalars(select(Submission.id).where(Submission.nik == nik)).first()
            if taken is not None:
                raise AlreadyRegistered(nik) from None
            continue  # the random registration number collided: draw again
        return submission, True
    raise RuntimeError("could not draw a free registration number")


def new_code(length: int = 8) -> str:
    """Return a random code from the unambiguous alphabet, grouped by four."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return "-".join(chars[i:i + 4] for i in range(0, length, 4))


def normalise_code(text: str) -> str:
    """Read a code as people type it: any case, spaces or dashes, O for 0, I and L for 1."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    return "-".join(cleaned[i:i + 4] for i in range(0, len(cleaned), 4))


def adopt_draft(session: Session, owner: str, nik: str, recovery_code: str) -> Draft | None:
    """Move a draft typed in another browser to this one.

    Proof of ownership is the draft's recovery code: the NIK alone proves nothing
    (it is printed on every KTP), it only narrows the search.
    """
    candidates = session.scalars(
        select(Draft).where(Draft.nik == clean_nik(nik))
        .order_by(Draft.updated_at.desc(), Draft.id.desc())
    ).all()
    wanted = normalise_code(recovery_code)
    found = next((d for d in candidates if (d.data or {}).get("_recovery") == wanted), None)
    if found is None or found.owner == owner:
        return found
    current = load_draft(session, owner)
    if current is not None:
        session.delete(current)
        session.flush()  # the owner column is unique: free it before taking it over
    left = found.owner
    found.owner = owner
    session.flush()
    # The browser it left may still have the form open: what its page sends later must
    # not make a copy of the draft there.
    session.add(Draft(owner=left, data={SUBMITTED: (found.data or {}).get(WRITER, "")}))
    session.flush()
    return found
