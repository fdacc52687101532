"""The live settings of a waiting room (validated, stored in Redis)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from scheduler.text import N_, Message


@dataclass(frozen=True)
class Bound:
    """The inclusive range a setting must stay in."""

    low: float
    high: float


# Ranges no province needs to leave; past them a value is a slip of the keyboard (or a
# fuzzer), and the scripts would hold sessions for years or admit at absurd rates.
MAX_ACTIVE_LIMIT = 100_000
ADMIT_PER_MINUTE_LIMIT = 1_000_000
SESSION_TTL_LIMIT = 86_400  # a day
CLAIM_WINDOW_LIMIT = 3_600  # an hour
WAITER_SECONDS_LIMIT = 86_400  # stale-after and return grace: a day
SESSION_MINUTES_LIMIT = 240.0  # as the calendar's planned session length
LATEST_TIME = 2_051_222_400  # 2035-01-01 00:00 UTC: opening and closing times

BOUNDS: dict[str, Bound] = {
    "max_active": Bound(1, MAX_ACTIVE_LIMIT),
    "admit_per_minute": Bound(1, ADMIT_PER_MINUTE_LIMIT),
    "session_ttl_seconds": Bound(60, SESSION_TTL_LIMIT),
    # At most the session's own lifetime as well (checked with both values in hand).
    "idle_timeout_seconds": Bound(30, SESSION_TTL_LIMIT),
    "claim_window_seconds": Bound(10, CLAIM_WINDOW_LIMIT),
    "booked_share": Bound(0.0, 1.0),
    "stale_after_seconds": Bound(0, WAITER_SECONDS_LIMIT),
    "return_grace_seconds": Bound(0, WAITER_SECONDS_LIMIT),
    "expected_session_minutes": Bound(0.1, SESSION_MINUTES_LIMIT),
    "opens_at": Bound(0, LATEST_TIME),
    "closes_at": Bound(0, LATEST_TIME),
}

OUT_OF_RANGE = {
    "max_active": N_("Batas pengguna aktif antara %(low)s dan %(high)s."),
    "admit_per_minute": N_("Laju masuk antara %(low)s dan %(high)s orang per menit."),
    "session_ttl_seconds": N_("Umur sesi antara %(low)s dan %(high)s detik."),
    "idle_timeout_seconds": N_("Batas diam antara %(low)s dan %(high)s detik, "
                               "dan tidak lebih dari umur sesi."),
    "claim_window_seconds": N_("Waktu untuk masuk antara %(low)s dan %(high)s detik."),
    "booked_share": N_("Porsi pemesan antara %(low)s dan %(high)s."),
    "stale_after_seconds": N_("Penunggu dianggap pergi setelah antara %(low)s dan %(high)s "
                              "detik."),
    "return_grace_seconds": N_("Waktu untuk kembali antara %(low)s dan %(high)s detik."),
    "expected_session_minutes": N_("Lama sesi rata-rata antara %(low)s dan %(high)s menit."),
    "opens_at": N_("Waktu tidak valid: paling lambat %(high)s."),
    "closes_at": N_("Waktu tidak valid: paling lambat %(high)s."),
}
LATEST_TIME_TEXT = dt.datetime.fromtimestamp(LATEST_TIME, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _shown(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def out_of_range(name: str, high: float | None = None) -> Message:
    """The message for ``name`` outside its range (``high`` when tighter than the bound)."""
    bound = BOUNDS[name]
    top: object = _shown(bound.high if high is None else high)
    if name in ("opens_at", "closes_at"):
        top = LATEST_TIME_TEXT
    return Message(OUT_OF_RANGE[name], low=_shown(bound.low), high=top)


class ConfigError(ValueError):
    """Invalid settings; ``fields`` maps each bad field to an Indonesian message.

    ``conflict`` is true when every value is fine on its own and only the settings
    together contradict each other (an idle limit longer than the session, a closing
    time before the opening): no single field's range rules them out.
    """

    def __init__(self, errors: dict[str, str], *, conflict: bool = False) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.fields = errors
        self.conflict = conflict


@dataclass(frozen=True)
class RoomConfig:
    """Settings every process reads live; a change applies within one second."""

    max_active: int = 100
    admit_per_minute: int = 600
    session_ttl_seconds: int = 3600
    idle_timeout_seconds: int = 900
    claim_window_seconds: int = 180
    booked_share: float = 0.3
    stale_after_seconds: int = 120
    return_grace_seconds: int = 600
    expected_session_minutes: float = 20.0
    paused: bool = False
    # Epoch seconds; 0 means "open now" / "never closes". Joins before opening
    # wait in a pre-queue whose order is drawn at opening.
    opens_at: int = 0
    closes_at: int = 0
    # When Redis cannot be reached: False answers 503 (no door opens), True lets
    # visitors into the form unqueued. Each process uses the last value it read.
    fail_open: bool = False

    def validate(self) -> RoomConfig:
        """Return self, or raise ConfigError naming every bad field."""
        errors: dict[str, str] = {}
        for name, bound in BOUNDS.items():
            # "not low <= value <= high" also refuses NaN.
            if not bound.low <= getattr(self, name) <= bound.high:
                errors[name] = out_of_range(name)
        out_of_bounds = bool(errors)
        if "session_ttl_seconds" not in errors and "idle_timeout_seconds" not in errors \
                and self.idle_timeout_seconds > self.session_ttl_seconds:
            errors["idle_timeout_seconds"] = out_of_range("idle_timeout_seconds",
                                                          high=self.session_ttl_seconds)
        if "opens_at" not in errors and "closes_at" not in errors and self.opens_at \
                and self.closes_at and self.closes_at <= self.opens_at:
            errors["closes_at"] = N_("Waktu tutup harus sesudah waktu buka.")
        if errors:
            raise ConfigError(errors, conflict=not out_of_bounds)
        return self

    def to_redis(self) -> dict[str, str]:
        """Encode as the flat string hash the Lua scripts read."""
        return encode_hash(self)

    @classmethod
    def from_redis(cls, raw: dict[Any, Any]) -> RoomConfig:
        """Decode a hash read from Redis; missing or unreadable fields keep defaults."""
        return cls(**decode_hash(cls, raw))

    def changed(self, **changes: Any) -> RoomConfig:
        """Return a validated copy with ``changes`` applied, coercing types."""
        known = {f.name: f.type for f in fields(self)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ConfigError({name: N_("Pengaturan tidak dikenal.") for name in sorted(unknown)})
        coerced: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, value in changes.items():
            kind = known[name]
            try:
                if kind in ("bool", bool):
                    if not isinstance(value, bool):
                        raise TypeError
                    coerced[name] = value
                elif kind in ("int", int):
                    if isinstance(value, bool) or not float(value).is_integer():
                        raise TypeError
                    coerced[name] = int(value)
                else:
                    if isinstance(value, bool):
                        raise TypeError
                    coerced[name] = float(value)
            except (TypeError, ValueError, OverflowError):
                errors[name] = N_("Nilai tidak valid.")
        if errors:
            raise ConfigError(errors)
        return replace(self, **coerced).validate()


def encode_hash(settings: Any) -> dict[str, str]:
    """A dataclass of plain values as a flat string hash (booleans as "1"/"0")."""
    return {key: ("1" if value else "0") if isinstance(value, bool) else str(value)
            for key, value in asdict(settings).items()}


def decode_hash(cls: Any, raw: dict[Any, Any]) -> dict[str, Any]:
    """The fields of dataclass ``cls`` found in a Redis hash, typed; unreadable ones left out."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = raw.get(f.name, raw.get(f.name.encode()))
        if value is None:
            continue
        text = value.decode() if isinstance(value, bytes) else str(value)
        try:
            if f.type in ("bool", bool):
                values[f.name] = text == "1"
            elif f.type in ("int", int):
                values[f.name] = int(float(text))
            else:
                values[f.name] = float(text)
        except ValueError:
            continue
    return values
