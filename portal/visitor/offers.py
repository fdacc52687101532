"""Slots as visitors see them, and the slot offered instead of a long wait.

Shared by the queue (a join or the waiting page may carry an offer) and the
booking pages and API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from starlette.concurrency import run_in_threadpool

from portal.state import PortalState
from portal.times import zone_label
from scheduler.bookings import offer_slots
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


# Offers depend only on the wait and the free slots: one query per process per
# half-hour band of waits every 30 seconds, not one per waiting visitor. While a
# band's query runs, the other visitors of that band wait for the same answer
# instead of starting their own (a burst of joins would otherwise fill the
# thread pool with identical queries).
_OFFER_CACHE: dict[tuple[int, int, str], tuple[float, dict[str, Any] | None]] = {}
_OFFER_PENDING: dict[tuple[int, int, str], asyncio.Future[dict[str, Any] | None]] = {}
OFFER_CACHE_SECONDS = 30.0
OFFER_WHEN_WAIT_OVER = 30 * 60


async def offer_for_wait(state: PortalState, eta_seconds: int | None,
                         locale: str = "id") -> dict[str, Any] | None:
    """A slot to offer instead of a long wait (None when the wait is short or no slot is free)."""
    if eta_seconds is None or eta_seconds < OFFER_WHEN_WAIT_OVER:
        return None
    band = eta_seconds // 1800
    key = (id(state), band, locale)
    cached = _OFFER_CACHE.get(key)
    if cached is not None and time.monotonic() - cached[0] < OFFER_CACHE_SECONDS:
        return cached[1]
    pending = _OFFER_PENDING.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    zone, room = state.settings.tz, state.settings.room

    def first_offer() -> dict[str, Any] | None:
        with state.db() as session:
            offers = offer_slots(session, room, utc_now(), band * 1800, 1)
            return slot_json(offers[0], zone) | {"label": slot_label(offers[0], zone, locale)} \
                if offers else None

    future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
    _OFFER_PENDING[key] = future
    try:
        offer = await run_in_threadpool(first_offer)
    except Exception as exc:  # an offer is a courtesy: never fail the queue for it
        log.warning("no slot offer: %s", type(exc).__name__)
        offer = None
    except BaseException:
        future.set_result(None)  # cancelled: those waiting go on without an offer
        raise
    finally:
        del _OFFER_PENDING[key]
    _OFFER_CACHE[key] = (time.monotonic(), offer)
    future.set_result(offer)
    return offer
