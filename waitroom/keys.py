"""Redis key names of one waiting room, all under one hash tag."""

from __future__ import annotations

from dataclasses import dataclass

# The order here is the order of KEYS in every script; the header of each
# Lua file lists the same names.
KEY_NAMES: tuple[str, ...] = (
    "config",  # hash: the room's live settings
    "seq",  # string: last queue number handed out
    "head",  # string: next queue number the admission walk looks at
    "marks",  # bitfield: u32 per queue number = state (3 bits) | last seen (29 bits)
    "ids",  # hash: keyed hash of NIK / phone / e-mail -> queue number
    "admitted",  # zset: queue number -> claim deadline (ms)
    "active",  # zset: session id -> idle deadline (ms)
    "hard",  # zset: session id -> lifetime deadline (ms)
    "sessions",  # hash: session id -> queue number
    "returning",  # list: skipped visitors who came back, served first
    "bucket",  # hash: token bucket for the admission rate
    "stats",  # hash: counters (waiting, admitted_total, finished_total, ...)
    "outflow",  # list: recent admission times (ms), newest first
    "priority",  # list: booked visitors present in their slot, served ahead of walk-ins
    "booked",  # set: queue numbers of booked visitors holding a place (admitted or active)
    "order",  # list: the pre-queue's drawn order, served first after opening
    "staging",  # unused: each draw writes its own list (RoomKeys.drawn)
    "wanted",  # set: queue numbers that asked to be told when their turn opens
    "due",  # list: admitted numbers to tell now (the notifier pops them)
    "owners",  # hash: queue number -> browser a place was moved to (only after a move)
    "since",  # hash: queue number holding a place -> admission time (ms; < 0: at own join)
    "held",  # list: places freed lately, 'freed_ms:held_ms:own' (the wait estimate's data)
    "joined",  # bitfield: u32 per queue number = when it joined (s, nearest; 0: not kept)
    "waits",  # hash: admission waits, a count per bucket (bound in s, or 'inf'), sum_ms
)

# Per-caller keys come after the room's own in a script's KEYS (KEYS[25], KEYS[26]):
# an address's join bucket, a used proof's marker, an address's slow lane.
JOIN_BUCKET_PREFIX = "join-bucket"
JOIN_PROOF_PREFIX = "join-proof"
JOIN_LANE_PREFIX = "join-lane"
# A draw's own list of the pre-queue's order (KEYS[25] of seal.lua).
DRAWN_PREFIX = "drawn"
NO_PROOF = "-"


@dataclass(frozen=True)
class RoomKeys:
    """Builds the keys of one room: ``<prefix>:{<room>}:<name>``."""

    prefix: str = "antrean"
    room: str = "main"

    def key(self, name: str) -> str:
        """Return the full key for one of KEY_NAMES."""
        return f"{self.prefix}:{{{self.room}}}:{name}"

    def all(self) -> list[str]:
        """Return every key of the room, in script KEYS order."""
        return [self.key(name) for name in KEY_NAMES]

    def join_bucket(self, address_hash: str) -> str:
        """The token bucket of joins from one (hashed) address."""
        return self.key(f"{JOIN_BUCKET_PREFIX}:{address_hash}")

    def join_proof(self, proof_id: str) -> str:
        """The marker of a used proof (a challenge or turn ticket is taken once)."""
        return self.key(f"{JOIN_PROOF_PREFIX}:{proof_id}")

    def join_lane(self, address_hash: str) -> str:
        """The slow lane of one (hashed) address: when its next turn ticket is due (ms)."""
        return self.key(f"{JOIN_LANE_PREFIX}:{address_hash}")

    @property
    def lock(self) -> str:
        """The short lock that keeps concurrent tickers from doing the same work."""
        return self.key("tick-lock")

    @property
    def draw_lock(self) -> str:
        """The lock of the one process drawing the pre-queue's order (it takes seconds)."""
        return self.key("draw-lock")

    def drawn(self, seed: str) -> str:
        """The list one draw writes its order to before sealing it (one per seed, so two
        processes drawing at once never mix their orders)."""
        return self.key(f"{DRAWN_PREFIX}:{seed}")
