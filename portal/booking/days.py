"""The days a person can pick on the booking page, and the free slots of one day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from babel.dates import format_date
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.state import PortalState
from portal.visitor.offers import slot_label
from scheduler.models import Slot
from scheduler.store import min_notice

DAYS_SHOWN = 21
SLOTS_A_DAY = 96  # every quarter hour of a day: more than any working plan makes


@dataclass(frozen=True)
class FreeDay:
    """A day with free places, as the page shows it."""

    day: dt.date
    label: str  # "Sen, 7 Des" in the page's language
    free: int


def free_days(state: PortalState, now: dt.datetime, locale: str) -> list[FreeDay]:
    """The next days that still have free places, with how many (one grouped query)."""
    room = state.settings.room
    with state.db() as session:
        earliest = now + min_notice(session, room)
        rows = session.execute(
            select(Slot.day, func.sum(Slot.capacity - Slot.booked))
            .where(Slot.room == room, Slot.start >= earliest, Slot.booked < Slot.capacity)
            .group_by(Slot.day).order_by(Slot.day).limit(DAYS_SHOWN)).all()
    return [FreeDay(day, format_date(day, "EEE, d MMM", locale=locale), int(free))
            for day, free in rows]


def slots_on(state: PortalState, day: dt.date, now: dt.datetime,
             locale: str) -> list[dict[str, object]]:
    """Every free slot of one day, earliest first, labelled for the page."""
    room, zone = state.settings.room, state.settings.tz
    with state.db() as session:
        earliest = now + min_notice(session, room)
        slots = _free_on(session, room, day, earliest)
    return [{"id": slot.id, "label": slot_label(slot, zone, locale), "free": slot.free}
            for slot in slots]


def _free_on(session: Session, room: str, day: dt.date, earliest: dt.datetime) -> list[Slot]:
    return list(session.scalars(
        select(Slot).where(Slot.room == room, Slot.day == day, Slot.start >= earliest,
                           Slot.booked < Slot.capacity)
        .order_by(Slot.start).limit(SLOTS_A_DAY)))


def picked_day(raw: str | None) -> dt.date | None:
    """The day asked for with ``?hari=YYYY-MM-DD``, if it is one."""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None
