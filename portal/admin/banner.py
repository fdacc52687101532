"""The public banner text operators set for the landing page."""

from __future__ import annotations

from portal.keys import PortalKeys
from waitroom.room import WaitingRoom

BANNER_FIELD = "banner"
MAX_BANNER = 500


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
