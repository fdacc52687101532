"""Durations as people read them: whole days, hours, minutes and seconds in words."""

from __future__ import annotations

from babel.units import format_unit

UNITS = (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60),
         ("duration-second", 1))


def duration_text(seconds: float, lang: str) -> str:
    """``1 jam 30 menit``: each whole unit of a duration, in the page's language."""
    total = round(seconds)
    if total == 0:
        return format_unit(0, "duration-second", locale=lang)
    parts = []
    for unit, size in UNITS:
        # Exact parts, never rounded up into a larger unit (weeks included).
        amount, total = divmod(total, size)
        if amount:
            parts.append(format_unit(amount, unit, locale=lang))
    return " ".join(parts)
