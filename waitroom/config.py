"""The live settings of a waiting room (validated, stored in Redis)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


class ConfigError(ValueError):
    """Invalid settings; ``fields`` maps each bad field to an Indonesian message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.fields = errors


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
        if self.max_active < 1:
            errors["max_active"] = "Batas pengguna aktif minimal 1."
        if self.admit_per_minute < 1:
            errors["admit_per_minute"] = "Laju masuk minimal 1 orang per menit."
        if self.session_ttl_seconds < 60:
            errors["session_ttl_seconds"] = "Umur sesi minimal 60 detik."
        if not 30 <= self.idle_timeout_seconds <= max(self.session_ttl_seconds, 30):
            errors["idle_timeout_seconds"] = "Batas diam antara 30 detik dan umur sesi."
        if self.claim_window_seconds < 10:
            errors["claim_window_seconds"] = "Waktu untuk masuk minimal 10 detik."
        if not 0.0 <= self.booked_share <= 1.0:
            errors["booked_share"] = "Porsi pemesan harus antara 0 dan 1."
        if self.stale_after_seconds < 0:
            errors["stale_after_seconds"] = "Tidak boleh negatif."
        if self.return_grace_seconds < 0:
            errors["return_grace_seconds"] = "Tidak boleh negatif."
        if self.expected_session_minutes <= 0:
            errors["expected_session_minutes"] = "Lama sesi rata-rata harus lebih dari 0."
        if self.opens_at < 0 or self.closes_at < 0:
            errors["opens_at" if self.opens_at < 0 else "closes_at"] = "Waktu tidak valid."
        elif self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            errors["closes_at"] = "Waktu tutup harus sesudah waktu buka."
        if errors:
            raise ConfigError(errors)
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
            raise ConfigError({name: "Pengaturan tidak dikenal." for name in sorted(unknown)})
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
                errors[name] = "Nilai tidak valid."
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
