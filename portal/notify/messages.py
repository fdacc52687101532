"""Rendering messages from the Indonesian templates under ``portal/templates/notify/``."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_datetime

from portal.agency import Agency
from portal.notify.records import Attachment

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
KINDS = (
    "turn_opened",
    "booking_confirmed",
    "booking_rescheduled",
    "booking_cancelled",
    "booking_reminder",
    "submission_receipt",
    "slot_assigned",
    "identity_code",
    "recovery_code",
    "move_code",
)
SMS_SEGMENT = 160
_NIK_RUN = re.compile(r"\d{16}")
_ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
               "Asia/Jayapura": "WIT"}
# The GSM 03.38 basic set; extension characters cost two septets each.
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")
_ASCII_FOR = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
              "\u00a0": " "}


class UnsafeMessage(ValueError):
    """A message that must never leave, e.g. an SMS carrying a NIK."""


@dataclass(frozen=True)
class EmailContent:
    """The three rendered parts of an e-mail."""

    subject: str
    text: str
    html: str


def _zone_name(tz: ZoneInfo) -> str:
    return _ZONE_NAMES.get(tz.key, tz.key)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@cache
def _environment(timezone: str, agency: Agency) -> jinja2.Environment:
    tz = ZoneInfo(timezone)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]

    def when(value: Any) -> str:
        moment = _as_datetime(value).astimezone(tz)
        return format_datetime(moment, "EEEE, d MMMM y 'pukul' HH.mm", locale="id") \
            + " " + _zone_name(tz)

    def short_when(value: Any) -> str:
        moment = _as_datetime(value).astimezone(tz)
        return format_datetime(moment, "d MMM y HH.mm", locale="id") + " " + _zone_name(tz)

    def clock(value: Any) -> str:
        return _as_datetime(value).astimezone(tz).strftime("%H.%M") + " " + _zone_name(tz)

    env.globals["agency"] = agency
    env.filters["waktu"] = when
    env.filters["waktu_singkat"] = short_when
    env.filters["jam"] = clock
    return env


def warm_templates(timezone: str, agency: Agency | None = None) -> None:
    """Compile every notification template now (before a worker forks its job processes)."""
    env = _environment(timezone, agency or Agency())
    for kind in KINDS:
        for suffix in (".subject.txt", ".txt", ".html", ".sms.txt"):
            env.get_template(f"notify/{kind}{suffix}")


def _render(timezone: str, name: str, context: dict[str, Any], agency: Agency | None) -> str:
    env = _environment(timezone, agency or Agency())
    return env.get_template(name).render(**context).strip()


def render_email(kind: str, context: dict[str, Any], timezone: str,
                 agency: Agency | None = None) -> EmailContent:
    """Render the subject, plain-text and HTML parts of an e-mail."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    subject = " ".join(_render(timezone, f"notify/{kind}.subject.txt", context, agency).split())
    return EmailContent(
        subject=subject,
        text=_render(timezone, f"notify/{kind}.txt", context, agency) + "\n",
        html=_render(timezone, f"notify/{kind}.html", context, agency) + "\n",
    )


def to_gsm7(text: str) -> str:
    """Replace characters outside GSM-7 with plain look-alikes, so one segment stays 160."""
    out = []
    for char in text:
        char = _ASCII_FOR.get(char, char)
        if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in char):
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(plain or "?")
    return "".join(out)


def gsm7_length(text: str) -> int | None:
    """Septets the text takes in GSM-7, or None when it needs UCS-2."""
    total = 0
    for char in text:
        if char in _GSM7_BASIC:
            total += 1
        elif char in _GSM7_EXTENDED:
            total += 2
        else:
            return None
    return total


def refuse_nik(text: str) -> None:
    """Raise UnsafeMessage when the text carries a 16-digit run (a NIK, or one in disguise)."""
    if _NIK_RUN.search(text) or _NIK_RUN.search(re.sub(r"[\s.\-]", "", text)):
        raise UnsafeMessage("SMS text contains a 16-digit number")


def render_sms(kind: str, context: dict[str, Any], timezone: str,
               agency: Agency | None = None) -> str:
    """Render an SMS: GSM-7, one line of words, and never a NIK."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    text = " ".join(_render(timezone, f"notify/{kind}.sms.txt", context, agency).split())
    text = to_gsm7(text)
    refuse_nik(text)
    return text


def _calendar_params(subtype: str) -> dict[str, str]:
    """The iTIP method of a ``calendar; method=...`` part, PUBLISH when it names none."""
    for param in subtype.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "method" and value.strip():
            return {"method": value.strip().upper()}
    return {"method": "PUBLISH"}


def build_email(content: EmailContent, *, sender: str, to: str, message_id: str,
                attachments: tuple[Attachment, ...] = (),
                headers: dict[str, str] | None = None) -> EmailMessage:
    """Assemble multipart/alternative (text, HTML), wrapped in mixed when files are attached."""
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # no vacation replies to a no-reply sender
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(content.text, subtype="plain", charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        params = _calendar_params(subtype) if subtype.startswith("calendar") else {}
        message.add_attachment(attachment.data, maintype=maintype,
                               subtype=subtype.split(";")[0] or "octet-stream",
                               filename=attachment.filename, params=params)
    return message


def message_id_for(notification_id: int, sender: str) -> str:
    """A Message-ID derived from the record: the same message keeps the same id."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "antrean.invalid"
    return f"<notification-{notification_id}@{domain}>"


def claim_minutes(window: timedelta) -> int:
    """The claim window in whole minutes, at least one."""
    return max(1, int(window.total_seconds() // 60))
