"""Times as people read them: in the registration's zone, labelled, Indonesian format.

Storage stays UTC; every time shown to a visitor or an operator goes through here.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

ZONE_LABELS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
               "Asia/Jayapura": "WIT"}


def zone_label(tz: ZoneInfo) -> str:
    """WIB, WITA or WIT (else the zone's own name)."""
    return ZONE_LABELS.get(tz.key, tz.key)


def local_time(moment: dt.datetime, tz: ZoneInfo, *, locale: str = "id") -> str:
    """``2 Des 2026 01.59 WIB``: day, month, year and clock in the zone, with its label."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # stored as UTC
    return format_datetime(moment, "d MMM y HH.mm", tzinfo=tz, locale=locale) + " " \
        + zone_label(tz)
