"""The public banner text operators set for the landing page."""

from __future__ import annotations

from portal.keys import PortalKeys
from portal.state import PortalState
from waitroom.room import WaitingRoom

BANNER_FIELD = "banner"
MAX_BANNER = 500
# The waiting page reloads every few seconds: its banner is read at most this often.
SHARED_SECONDS = 5.0


def _key(room: WaitingRoom) -> str:
    return PortalKeys.of(room.keys).of_room("admin")


async def public_banner(room: WaitingRoom) -> str | None:
    """The banner to show visitors on the landing page, or None when there is none."""
    raw = await room.client.hget(_key(room), BANNER_FIELD)
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return text.strip() or None


async def set_banner(room: WaitingRoom, text: str) -> None:
    """Store (or, with empty text, remove) the public banner."""
    text = text.strip()[:MAX_BANNER]
    if text:
        await room.client.hset(_key(room), BANNER_FIELD, text)
    else:
        await room.client.hdel(_key(room), BANNER_FIELD)


async def shared_banner(state: PortalState) -> str | None:
    """The banner for the waiting page and the form: read at most every few seconds.

    Fails quietly (no banner) when Redis is away: the banner never takes a page down.
    """
    cache = state.banner
    if not cache.fresh(SHARED_SECONDS):
        try:
            text = await public_banner(state.room)
        except Exception:  # a banner is never worth an error page
            text = None
        cache.set(text or "")
    return str(cache.value) or None
