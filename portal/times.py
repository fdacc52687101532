"""Times as people read them: in the registration's zone, labelled, Indonesian format.

Storage stays UTC; every time shown to a visitor or an operator goes through here.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

ZONE_LABELS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
               "Asia/Jayapura": "WIT"}


def zone_label(tz: ZoneInfo) -> str:
    """WIB, WITA or WIT (else the zone's own name)."""
    return ZONE_LABELS.get(tz.key, tz.key)


_LONG = {"id": "EEEE, d MMMM y 'pukul' HH.mm", "en": "EEEE d MMMM y 'at' HH.mm"}


def local_time(moment: dt.datetime, tz: ZoneInfo, *, locale: str = "id",
               long: bool = False) -> str:
    """``2 Des 2026 01.59 WIB``: day, month, year and clock in the zone, with its label.

    ``long`` writes it out for documents: ``Rabu, 2 Desember 2026 pukul 01.59 WIB``.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # stored as UTC
    pattern = _LONG.get(locale, _LONG["id"]) if long else "d MMM y HH.mm"
    return format_datetime(moment, pattern, tzinfo=tz, locale=locale) + " " + zone_label(tz)


def local_date(day: dt.date, *, locale: str = "id") -> str:
    """``28 Agustus 2026``: a calendar day written out in the page's language."""
    return format_date(day, "d MMMM y", locale=locale)
