"""Every Redis key of the portal, named in one registry.

One rule for every key: ``<prefix>:{<tag>}:<name>``. The tag in braces is the
Redis Cluster hash tag, so every key that one operation touches together shares
a tag and lives on one node:

- a room's keys carry the room's name as their tag (``waitroom.keys`` builds the
  room's own, in the scripts' KEYS order; the portal's keys of a room, below,
  follow the same rule);
- the console's keys carry ``{admin}``, the notifier's rate buckets carry their
  channel's name, one tag a channel.

Nothing else in the portal writes a key name by hand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from waitroom.keys import RoomKeys

# The portal's keys beside the room's own, under the room's hash tag.
ROOM_KEY_NAMES: dict[str, str] = {
    "admin": "hash: console state of the room (the public banner)",
    "form-latency": "list: recent form response times, 'at_ms:duration_ms', newest first",
    "autocap": "hash: the automatic cap's settings and when it last decided",
    "autocap-lock": "string: the short lock of the process deciding the cap",
    "autocap-log": "list: the automatic cap's recent decisions, newest first",
    "samples": "list: the room over time, one JSON sample a few seconds",
    "sample-lock": "string: the short lock of the process taking a sample",
    "day-start": "hash: date -> admissions counted at that day's first sample",
}

ADMIN_TAG = "admin"


def tagged_key(prefix: str, tag: str, name: str) -> str:
    """The one rule: ``<prefix>:{<tag>}:<name>``."""
    return f"{prefix}:{{{tag}}}:{name}"


def _digest(value: str) -> str:
    # Key names never spell out a person, an account or an address.
    return hashlib.sha256(value.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class PortalKeys:
    """The key names of one portal: its room's, the console's and the notifier's."""

    prefix: str = "antrean"
    room: str = "main"

    @classmethod
    def of(cls, room_keys: RoomKeys) -> PortalKeys:
        """The portal's keys beside a room's own."""
        return cls(room_keys.prefix, room_keys.room)

    @property
    def room_keys(self) -> RoomKeys:
        """The room's own keys, as the Lua scripts take them."""
        return RoomKeys(self.prefix, self.room)

    def of_room(self, name: str) -> str:
        """One of ROOM_KEY_NAMES, under the room's hash tag."""
        if name not in ROOM_KEY_NAMES:
            raise KeyError(f"no room key named {name!r} in portal.keys.ROOM_KEY_NAMES")
        return tagged_key(self.prefix, self.room, name)

    # --- the console ---------------------------------------------------------

    def login_failures(self, kind: str, who: str) -> str:
        """Failed logins of one account (``kind="account"``) or one address."""
        return tagged_key(self.prefix, ADMIN_TAG, f"fail:{kind}:{_digest(who)}")

    def admin_session(self, session_id: str) -> str:
        """One console session, named by a hash of its cookie."""
        return tagged_key(self.prefix, ADMIN_TAG,
                          f"session:{hashlib.sha256(session_id.encode()).hexdigest()}")

    def admin_sessions_of(self, user_id: int) -> str:
        """The set of one account's session keys (to end them all at once)."""
        return tagged_key(self.prefix, ADMIN_TAG, f"sessions-of:{user_id}")

    def roster_import(self, import_id: str) -> str:
        """The progress of one background roster import."""
        return tagged_key(self.prefix, ADMIN_TAG, f"roster-import:{import_id}")

    def roster_report(self, import_id: str) -> str:
        """The CSV of the rows one roster import could not take."""
        return tagged_key(self.prefix, ADMIN_TAG, f"roster-report:{import_id}")

    # --- identity --------------------------------------------------------------

    def identity_code(self, nik_digest: str) -> str:
        """The current one-time code of one NIK, named by its keyed digest."""
        return tagged_key(self.prefix, "identity", f"code:{nik_digest}")

    # --- guesses ----------------------------------------------------------------

    def attempts(self, kind: str, who: str, window: int) -> str:
        """Attempts of one kind by one address or at one target in one time window."""
        return tagged_key(self.prefix, f"attempts-{kind}", f"{_digest(who)}:{window}")

    # --- the notifier ----------------------------------------------------------

    def notify_outcomes(self) -> str:
        """Deliveries counted by ``<channel>:<outcome>``, shared by every worker, for /metrics."""
        return tagged_key(self.prefix, "notify", "outcomes")

    def notify_rate(self, channel: str) -> str:
        """The token bucket that every worker shares for one channel."""
        return tagged_key(self.prefix, f"notify-{channel}", "rate")
