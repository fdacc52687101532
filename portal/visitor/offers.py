"""Slots as visitors see them, and the slot offered instead of a long wait.

Shared by the queue (a join or the waiting page may carry an offer) and the
booking pages and API.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from starlette.concurrency import run_in_threadpool

from portal.state import PortalState
from portal.times import zone_label
from scheduler.bookings import offer_candidates, offer_slots
from scheduler.models import Slot
from waitroom.room import WaitingRoom

log = logging.getLogger("antrean.portal")

OFFERS_ON_PAGE = 5


def utc_now() -> dt.datetime:
    """Now, as an aware UTC time."""
    return dt.datetime.now(dt.UTC)


def slot_json(slot: Slot, zone: ZoneInfo) -> dict[str, Any]:
    """The public JSON form of a slot, times in the registration's zone."""
    return {
        "id": slot.id,
        "start": slot.start.astimezone(zone).isoformat(),
        "end": slot.end.astimezone(zone).isoformat(),
        "day": slot.day.isoformat(),
        "capacity": slot.capacity,
        "booked": slot.booked,
        "free": slot.free,
        "holiday": slot.holiday,
        "over_capacity": slot.over_capacity,
    }


def slot_label(slot: Slot, zone: ZoneInfo, locale: str = "id") -> str:
    """A slot as the page's readers write it: ``Senin, 2 Juni 2025 08.00-08.30 WIB``.

    The clock keeps the Indonesian form in every language, with the zone's label.
    """
    day = format_datetime(slot.start, "EEEE, d MMMM y", tzinfo=zone, locale=locale)
    start = format_datetime(slot.start, "HH.mm", tzinfo=zone, locale="id")
    end = format_datetime(slot.end, "HH.mm", tzinfo=zone, locale="id") + " " + zone_label(zone)
    suffix = f" ({slot.holiday})" if slot.holiday else ""
    return f"{day} {start}\u2013{end}{suffix}"


async def queue_eta_seconds(room: WaitingRoom) -> int:
    """The wait a visitor joining now would have (0 when unknown)."""
    try:
        estimate = (await room.stats()).estimate_for_new
    except Exception as exc:  # no queue figure: offer from now rather than no page at all
        log.warning("queue stats unavailable for offers: %s", type(exc).__name__)
        return 0
    return estimate.seconds if estimate is not None else 0


def offers_for_page(state: PortalState, eta: int, locale: str = "id") -> list[dict[str, Any]]:
    """Free slots to offer on the booking page to someone facing a wait of ``eta``."""
    zone, room, now = state.settings.tz, state.settings.room, utc_now()
    with state.db() as session:
        offers = offer_slots(session, room, now, eta, OFFERS_ON_PAGE)
    return [{"id": slot.id, "label": slot_label(slot, zone, locale), "free": slot.free}
            for slot in offers]


# Offers depend only on the wait and the free slots: each process reads the free
# slots once every 30 seconds (soonest first, those in the assignment hours apart)
# and answers every wait from them, so a queue that grows by thousands a minute
# costs no query per join. While the read runs, the others wait for the same one
# instead of starting their own.
@dataclass(frozen=True)
class _Candidates:
    at: float  # monotonic seconds
    lists: tuple[tuple[list[Slot], list[dt.datetime]], ...]  # (slots, their starts), in turn


_CANDIDATES: dict[int, _Candidates] = {}
_PENDING: dict[int, asyncio.Future[_Candidates | None]] = {}
_SHOWN: dict[tuple[int, int, str], dict[str, Any]] = {}
OFFER_CACHE_SECONDS = 30.0
OFFER_WHEN_WAIT_OVER = 30 * 60


async def _candidates(state: PortalState) -> _Candidates | None:
    key = id(state)
    cached = _CANDIDATES.get(key)
    if cached is not None and time.monotonic() - cached.at < OFFER_CACHE_SECONDS:
        return cached
    pending = _PENDING.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    room = state.settings.room

    def read() -> _Candidates:
        with state.db() as session:
            lists = offer_candidates(session, room, utc_now())
        return _Candidates(time.monotonic(),
                           tuple((slots, [slot.start for slot in slots]) for slots in lists))

    future: asyncio.Future[_Candidates | None] = asyncio.get_running_loop().create_future()
    _PENDING[key] = future
    found: _Candidates | None
    try:
        found = await run_in_threadpool(read)
    except Exception as exc:  # an offer is a courtesy: never fail the queue for it
        log.warning("no slot offer: %s", type(exc).__name__)
        found = cached
    except BaseException:
        future.set_result(None)  # cancelled: those waiting go on without an offer
        raise
    finally:
        del _PENDING[key]
    if found is not None and found is not cached:
        _CANDIDATES[key] = found
        _SHOWN.clear()  # labels and free places of the slots read before
    future.set_result(found)
    return found


async def offer_for_wait(state: PortalState, eta_seconds: int | None,
                         locale: str = "id") -> dict[str, Any] | None:
    """A slot to offer instead of a long wait (None when the wait is short or no slot is free).

    The soonest free slot after the wait within the assignment hours, else the
    soonest after it at all: the honest alternative to waiting.
    """
    if eta_seconds is None or eta_seconds < OFFER_WHEN_WAIT_OVER:
        return None
    candidates = _CANDIDATES.get(id(state))  # read lately: no await, as most joins find it
    if candidates is None or time.monotonic() - candidates.at >= OFFER_CACHE_SECONDS:
        candidates = await _candidates(state)
    if candidates is None or not any(slots for slots, _ in candidates.lists):
        return None
    earliest = utc_now() + dt.timedelta(seconds=eta_seconds)
    for slots, starts in candidates.lists:
        at = bisect.bisect_left(starts, earliest)
        if at < len(slots):
            return _shown(state, slots[at], locale)
    return None


def _shown(state: PortalState, slot: Slot, locale: str) -> dict[str, Any]:
    key = (id(state), slot.id, locale)
    offer = _SHOWN.get(key)
    if offer is None:
        zone = state.settings.tz
        offer = _SHOWN[key] = slot_json(slot, zone) | {"label": slot_label(slot, zone, locale)}
    return offer
