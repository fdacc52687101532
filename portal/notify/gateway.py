"""The SMS gateway's side of a send: when its answer means "sent", and its credentials.

Pure rules over plain values (no sockets, no settings reader): a gateway may answer
200 and say ``{"status": "failed"}`` in the body, so what counts as success is the
operator's to set; user-info in the gateway's URL is lifted out into an
Authorization header, so it never travels in the request line or the Host header.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

_STATUS = re.compile(r"^\s*(?:([1-5])xx|(\d{3})(?:\s*-\s*(\d{3}))?)\s*$", re.IGNORECASE)
# What might be personal in an answer: a run of digits (a phone number, a NIK) or an
# e-mail address. The summary keeps the gateway's words and masks these.
_DIGITS = re.compile(r"\+?\d[\d ().-]{4,}\d")
_EMAIL = re.compile(r"[^\s\"'<>@,;:]+@[^\s\"'<>@,;:]+")
SUMMARY_LENGTH = 80


@dataclass(frozen=True)
class SuccessRule:
    """What an answer must be to count as sent: a status in ``statuses`` and, if set,
    a JSON ``field`` holding one of ``values`` and a body that ``pattern`` finds."""

    statuses: tuple[tuple[int, int], ...] = ((200, 299),)
    field: str | None = None
    values: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None


def parse_statuses(raw: str) -> tuple[tuple[int, int], ...]:
    """Read ``"2xx"``, ``"200,202"`` or ``"200-204"`` into inclusive ranges; ValueError if bad."""
    ranges: list[tuple[int, int]] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        match = _STATUS.match(part)
        if match is None:
            raise ValueError(f"cannot read the status {part.strip()!r} (use e.g. 2xx,302)")
        klass, low, high = match.groups()
        if klass:
            ranges.append((int(klass) * 100, int(klass) * 100 + 99))
        else:
            first, last = int(low), int(high or low)
            if not 100 <= first <= last <= 599:
                raise ValueError(f"no such HTTP status range {part.strip()!r}")
            ranges.append((first, last))
    if not ranges:
        raise ValueError("at least one accepted status is needed")
    return tuple(ranges)


def summarise(text: str) -> str:
    """A short, storable account of a gateway's answer: numbers and addresses masked."""
    text = " ".join(text.split())
    text = _EMAIL.sub("<email>", _DIGITS.sub("<number>", text))
    return text if len(text) <= SUMMARY_LENGTH else text[:SUMMARY_LENGTH - 1] + "…"


def _field_value(document: Any, path: str) -> tuple[bool, Any]:
    for name in path.split("."):
        if not isinstance(document, dict) or name not in document:
            return False, None
        document = document[name]
    return True, document


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def refusal(rule: SuccessRule, status: int, body: bytes) -> str | None:
    """Why the answer is not a success (a reason safe to store), or None if it is one."""
    if not any(low <= status <= high for low, high in rule.statuses):
        return f"sms gateway answered {status}"
    text = body.decode("utf-8", errors="replace")
    if rule.field is not None:
        try:
            document = json.loads(text)
        except ValueError:
            return f"sms gateway answered {status} without JSON: {summarise(text)}"
        found, value = _field_value(document, rule.field)
        if not found:
            return f"sms gateway answered {status} without {rule.field}: {summarise(text)}"
        if _as_text(value).casefold() not in {v.casefold() for v in rule.values}:
            return f"sms gateway answered {status} with {rule.field}={summarise(_as_text(value))}"
    if rule.pattern is not None and rule.pattern.search(text) is None:
        return f"sms gateway answered {status} not matching the success pattern: " \
               f"{summarise(text)}"
    return None


def split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without user-info, and the Basic Authorization value it carried (or None)."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    bare = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return bare, "Basic " + base64.b64encode(pair.encode()).decode("ascii")
