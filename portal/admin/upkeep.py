"""What the background loop does for the console on every tick."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from portal.admin.autocap import autocap_step
from portal.admin.timeseries import sample_if_due
from waitroom.room import WaitingRoom


async def admin_upkeep(room: WaitingRoom, tz: ZoneInfo) -> None:
    """Sample the room for the charts and let the automatic cap decide, each when due."""
    # Both take a Redis lock for their interval: any number of loops may call this.
    await sample_if_due(room, tz)
    await autocap_step(room)
