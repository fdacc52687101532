"""What a console page shows of codes and times, in the page's language and the registration's zone.

Templates get one ``show`` per request (``admin_render`` adds it): every code goes
through its kind's mapping in ``portal.admin.labels``, every time through
``portal.times.local_time``. Storage stays UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from portal.admin.labels import audit, autocap, bookings, notifications, roles
from portal.times import local_time, zone_label
from scheduler.text import Typed


@dataclass(frozen=True)
class Show:
    """Readable, translated text for the console's codes and times."""

    tz: ZoneInfo
    lang: str
    say: Callable[[object], str]  # the page's catalogue look-up (the ``tr`` filter)

    def time(self, moment: dt.datetime | float | None) -> str:
        """A stored moment (datetime, or epoch seconds) in the zone, labelled; ``–`` if none."""
        if moment is None or (not isinstance(moment, dt.datetime) and not moment):
            return "–"
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime.fromtimestamp(float(moment), dt.UTC)
        return local_time(moment, self.tz, locale=self.lang)

    def span(self, start: dt.datetime, end: dt.datetime) -> str:
        """``15 Agu 2031 11.00–12.00 WIB``: a slot's start and end clock, labelled once."""
        label = zone_label(self.tz)
        first = local_time(start, self.tz, locale=self.lang).removesuffix(" " + label)
        if end.tzinfo is None:
            end = end.replace(tzinfo=dt.UTC)  # stored as UTC
        return f"{first}–{format_datetime(end, 'HH.mm', tzinfo=self.tz, locale=self.lang)} {label}"

    def _say(self, label: str) -> str:
        # Text kept as it was (a typed value, an unknown code) is never looked up.
        return str(label) if isinstance(label, Typed) else self.say(label)

    def notification_status(self, code: str | None) -> str:
        """A notification's status."""
        return self._say(notifications.status_label(code))

    def purpose(self, code: str | None) -> str:
        """What a notification is for."""
        return self._say(notifications.purpose_label(code, self.lang))

    def channel(self, code: str | None) -> str:
        """E-mail or SMS."""
        return self._say(notifications.channel_label(code))

    def delivery_error(self, text: str | None) -> str:
        """Why the last try of a notification failed."""
        return self._say(notifications.error_label(text))

    def booking_status(self, code: str | None) -> str:
        """A booking's status."""
        return self._say(bookings.status_label(code))

    def decision_reason(self, code: str | None) -> str:
        """Why the automatic cap decided as it did."""
        return self._say(autocap.reason_label(code))

    def role(self, code: str | None) -> str:
        """A console role."""
        return self._say(roles.role_label(code))

    def action(self, code: str | None) -> str:
        """An audited action."""
        return self._say(audit.action_label(code))

    def changes(self, values: Mapping[str, Any] | None) -> list[tuple[str, str]]:
        """The audited values of an entry: (field, value), both readable."""
        return [(self._say(name), self._say(value))
                for name, value in audit.changed_lines(values, self.tz, self.lang)]
