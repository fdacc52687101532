"""The calendar file (.ics) a visitor gets with a booking."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

from scheduler.codes import format_code

PRODUCT_ID = "-//Antrean//Jadwal Pendaftaran//ID"


def booking_ics(
    code: str,
    start: dt.datetime,
    end: dt.datetime,
    portal_url: str,
    tz: str = "Asia/Jakarta",
    stamp: dt.datetime | None = None,
) -> bytes:
    """Return an iCalendar file for the booked slot, in the registration's time zone."""
    zone = ZoneInfo(tz)
    shown = format_code(code)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    # Stable per booking, so re-downloading after a reschedule updates the
    # entry in the visitor's calendar instead of adding a second one.
    event.add("uid", f"{code}@antrean")
    event.add("dtstamp", stamp or dt.datetime.now(dt.UTC))
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    event.add("summary", f"Jadwal pendaftaran non-ASN ({shown})")
    event.add(
        "description",
        f"Kode pemesanan: {shown}\n"
        f"Buka {portal_url} pada jadwal ini dan masukkan kode pemesanan beserta NIK Anda.",
    )
    event.add("url", portal_url)
    event.add("location", portal_url)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Jadwal pendaftaran Anda dimulai 30 menit lagi ({shown}).")
    alarm.add("trigger", dt.timedelta(minutes=-30))
    event.add_component(alarm)
    calendar.add_component(event)
    # add_missing_timezones writes the VTIMEZONE block some calendar apps need.
    calendar.add_missing_timezones()
    return calendar.to_ical()
