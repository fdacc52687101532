"""Where a NIK's code goes: the roster's contact, else the one bound to it, else the offer.

The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.identity.models import IdentityBinding, IdentityContest
from scheduler.models import Registrant


@dataclass(frozen=True)
class Contact:
    """One address a code can be sent to."""

    channel: str  # email | sms
    address: str


def route_for(session: Session, nik: str,
              offered: tuple[Contact, ...]) -> tuple[Contact, ...]:
    """The contacts a NIK's code is sent to: the roster wins, then a binding, then the offer.

    An offered contact that differs from a roster or bound one is ignored (the code
    still goes where the agency says), and for a bound NIK it is recorded as a
    contest the operators can judge.
    """
    registrant = session.scalars(select(Registrant).where(
        Registrant.nik == nik, Registrant.on_roster)).one_or_none()
    if registrant is not None:
        held = tuple(contact for contact in (
            Contact("sms", registrant.phone) if registrant.phone else None,
            Contact("email", registrant.email) if registrant.email else None,
        ) if contact is not None)
        if held:
            return held
    binding = session.scalars(
        select(IdentityBinding).where(IdentityBinding.nik == nik)).one_or_none()
    if binding is not None:
        bound = Contact(binding.channel, binding.address)
        for contact in offered:
            if contact != bound:
                _contest(session, nik, contact)
        return (bound,)
    return offered


def _contest(session: Session, nik: str, contact: Contact) -> None:
    existing = session.scalars(select(IdentityContest).where(
        IdentityContest.nik == nik, IdentityContest.channel == contact.channel,
        IdentityContest.address == contact.address,
        IdentityContest.resolved_at.is_(None))).one_or_none()
    if existing is not None:
        existing.times += 1
    else:
        session.add(IdentityContest(nik=nik, channel=contact.channel, address=contact.address,
                                    times=1))


def bind_if_unbound(session: Session, nik: str, contact: Contact) -> bool:
    """After a code sent to an offered contact was proved: that contact now speaks for the NIK.

    True when this call made the binding. A NIK on the roster is never bound here.
    """
    on_roster = session.scalar(select(Registrant.id).where(Registrant.nik == nik,
                                                         Registrant.on_roster))
    if on_roster is not None:
        return False
    exists = session.scalar(select(IdentityBinding.id).where(IdentityBinding.nik == nik))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(IdentityBinding(nik=nik, channel=contact.channel,
                                        address=contact.address))
    except IntegrityError:  # bound a moment ago by a concurrent proof: the first one holds
        return False
    return True
