"""The calendar files (.ics) of a booking: the download and the invites sent by e-mail.

Calendar apps keep one entry per UID and replace it only with a file whose
SEQUENCE is higher (RFC 5545 3.8.7.4), so every file of a booking carries the
same UID and the booking's stored revision number, which each move or
cancellation raises by one.

Which iTIP method (RFC 5546) goes where:

- The download (``GET /api/v1/bookings/{code}.ics``) is ``PUBLISH``: anyone with
  the code may fetch it, so it names no attendee (PUBLISH must not) and holds no
  personal data; ORGANIZER, which PUBLISH requires, is the portal's sender
  address.
- The e-mails carry ``REQUEST`` (made, moved) and ``CANCEL`` (cancelled), with
  the portal's sender address as ORGANIZER and the person's own address as
  ATTENDEE with ``RSVP=FALSE``. Gmail/Google Calendar and Outlook apply a
  mailed update or cancellation only to an event they hold as an invitation
  from that organizer to that attendee; an event added from a PUBLISH file is a
  private copy that a later CANCEL does not remove. REQUEST also lets them show
  the moved time in place. The price is an RSVP prompt in some apps, whose
  answer goes to the no-reply sender and changes nothing here.
- A cancelled booking's download is a ``CANCEL`` too (no attendee: none was ever
  in a download), so a calendar that fetches the link again learns of it.

CANCEL carries STATUS:CANCELLED and no alarm (RFC 5546 3.2.5 allows none).
"""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from scheduler.codes import format_code

PRODUCT_ID = "-//Antrean//Jadwal Pendaftaran//ID"
DEFAULT_ORGANIZER = "Antrean BKD <noreply@antrean.invalid>"


def booking_uid(code: str) -> str:
    """The UID every file of a booking shares (from the normalised code, no dash)."""
    return f"{code.replace('-', '')}@antrean"


def _address(mailbox: str, role: str | None = None) -> vCalAddress:
    name, email = parseaddr(mailbox)
    address = vCalAddress(f"mailto:{email or mailbox}")
    if name:
        address.params["cn"] = vText(name)
    if role is not None:
        address.params["role"] = vText(role)
        address.params["partstat"] = vText("NEEDS-ACTION")
        address.params["rsvp"] = vText("FALSE")
    return address


def booking_ics(
    code: str,
    start: dt.datetime,
    end: dt.datetime,
    portal_url: str,
    tz: str = "Asia/Jakarta",
    stamp: dt.datetime | None = None,
    *,
    sequence: int = 0,
    cancelled: bool = False,
    organizer: str = DEFAULT_ORGANIZER,
    attendee: str | None = None,
    title: str = "Jadwal pendaftaran",
) -> bytes:
    """Return the booking's iCalendar file in the registration's time zone.

    Without ``attendee`` it is the download (PUBLISH, or CANCEL once cancelled);
    with the person's address it is the mailed invite (REQUEST, or CANCEL).
    ``stamp`` is when the booking last changed (DTSTAMP and LAST-MODIFIED).
    """
    zone = ZoneInfo(tz)
    shown = format_code(code.replace("-", ""))
    changed = stamp or dt.datetime.now(dt.UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST" if attendee else "PUBLISH")
    event = Event()
    event.add("uid", booking_uid(code))
    event.add("sequence", sequence)
    event.add("dtstamp", changed.astimezone(dt.UTC))
    event.add("last-modified", changed.astimezone(dt.UTC))
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("organizer", _address(organizer))
    if attendee:
        event.add("attendee", _address(attendee, role="REQ-PARTICIPANT"))
    event.add("summary", f"{title} ({shown})")
    event.add(
        "description",
        f"Kode pemesanan: {shown}\n"
        f"Buka {portal_url} pada jadwal ini dan masukkan kode pemesanan beserta NIK Anda.",
    )
    event.add("url", portal_url)
    event.add("location", portal_url)
    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"Jadwal pendaftaran Anda dimulai 30 menit lagi ({shown}).")
        alarm.add("trigger", dt.timedelta(minutes=-30))
        event.add_component(alarm)
    calendar.add_component(event)
    # add_missing_timezones writes the VTIMEZONE block some calendar apps need.
    calendar.add_missing_timezones()
    return calendar.to_ical()
