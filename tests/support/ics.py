"""Reading back the iCalendar files the portal sends, with the types the tests rely on."""

from __future__ import annotations

import datetime as dt

from icalendar import Component, vDDDTypes


def ics_datetime(component: Component, name: str) -> dt.datetime:
    """The date-time a property such as DTSTART holds (a date-time, not a bare date)."""
    prop = component[name]
    assert isinstance(prop, vDDDTypes), type(prop)
    value = prop.dt
    assert isinstance(value, dt.datetime), value
    return value
