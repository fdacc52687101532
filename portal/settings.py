"""All settings of a process, typed, read from the environment once."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.datastructures import Secret

from waitroom.config import ConfigError, RoomConfig


class SettingsError(RuntimeError):
    """The environment does not describe a process that can start."""


def _normalise_database_url(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgres URLs mean it.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    """Everything a web, worker or scheduler process needs to know at start."""

    env: str = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    timezone: str = "Asia/Jakarta"
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 1
    room: str = "main"
    redis_prefix: str = "antrean"
    admin_token: Secret | None = None
    cookie_secure: bool = False
    run_ticker: bool = True
    join_rate_per_minute: int = 30
    room_defaults: RoomConfig = field(default_factory=RoomConfig)
    demo: bool = True
    language: str = "id"

    @property
    def production(self) -> bool:
        """Whether this process runs for real users."""
        return self.env == "production"

    @property
    def tz(self) -> ZoneInfo:
        """The registration's time zone."""
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ANTREAN_* variables; generate development defaults under ``var/``."""
        env = dict(os.environ if environ is None else environ)

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(f"ANTREAN_{name}")
            return value if value not in (None, "") else default

        def get_int(name: str, default: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError as exc:
                raise SettingsError(f"ANTREAN_{name} must be a whole number, not {raw!r}") from exc

        def get_bool(name: str, default: bool) -> bool:
            raw = get(name)
            if raw is None:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise SettingsError(f"ANTREAN_{name} must be true or false, not {raw!r}")

        mode = get("ENV", "development") or "development"
        if mode not in ("development", "production", "test"):
            raise SettingsError("ANTREAN_ENV must be development, production or test")
        production = mode == "production"
        var_dir = Path(get("VAR_DIR", "var") or "var").resolve()

        database_url = get("DATABASE_URL")
        secret = get("SECRET_KEY")
        if production:
            missing = [
                name
                for name, value in (("ANTREAN_SECRET_KEY", secret), ("ANTREAN_DATABASE_URL",
                                                                     database_url))
                if value is None
            ]
            if missing:
                raise SettingsError(
                    "ANTREAN_ENV=production needs " + " and ".join(missing)
                    + " to be set; refusing to start with generated defaults."
                )
            if secret is not None and len(secret) < 32:
                raise SettingsError("ANTREAN_SECRET_KEY must be at least 32 characters.")
        if database_url is None:
            database_url = f"sqlite:///{var_dir / 'antrean.db'}"
        if secret is None:
            secret = _development_secret(var_dir)

        timezone = get("TIMEZONE", "Asia/Jakarta") or "Asia/Jakarta"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"ANTREAN_TIMEZONE {timezone!r} is not a known time zone") from exc

        fail_mode = get("FAIL_MODE", "closed")
        if fail_mode not in ("closed", "open"):
            raise SettingsError("ANTREAN_FAIL_MODE must be closed or open")

        defaults = RoomConfig()
        try:
            room_defaults = defaults.changed(
                max_active=get_int("MAX_ACTIVE", defaults.max_active),
                admit_per_minute=get_int("ADMIT_PER_MINUTE", defaults.admit_per_minute),
                session_ttl_seconds=get_int("SESSION_TTL_SECONDS", defaults.session_ttl_seconds),
                idle_timeout_seconds=get_int(
                    "IDLE_TIMEOUT_SECONDS", defaults.idle_timeout_seconds
                ),
                claim_window_seconds=get_int(
                    "CLAIM_WINDOW_SECONDS", defaults.claim_window_seconds
                ),
                stale_after_seconds=get_int("STALE_AFTER_SECONDS", defaults.stale_after_seconds),
                fail_open=fail_mode == "open",
            )
        except ConfigError as exc:
            raise SettingsError(f"invalid waiting-room setting: {exc}") from exc

        admin_token = get("ADMIN_TOKEN")
        return cls(
            env=mode,
            var_dir=var_dir,
            database_url=_normalise_database_url(database_url),
            redis_url=get("REDIS_URL"),
            secret_key=Secret(secret),
            timezone=timezone,
            host=get("HOST", "127.0.0.1") or "127.0.0.1",
            port=get_int("PORT", 8000),
            web_workers=get_int("WEB_WORKERS", 1),
            room=get("ROOM", "main") or "main",
            redis_prefix=get("REDIS_PREFIX", "antrean") or "antrean",
            admin_token=Secret(admin_token) if admin_token else None,
            cookie_secure=get_bool("COOKIE_SECURE", production),
            run_ticker=get_bool("TICKER", True),
            join_rate_per_minute=get_int("JOIN_RATE_PER_MINUTE", 30),
            room_defaults=room_defaults,
            demo=get_bool("DEMO", not production),
            language=_language(get("LANG", "id") or "id"),
        )


def _language(value: str) -> str:
    if value not in ("id", "en"):
        raise SettingsError("ANTREAN_LANG must be id or en")
    return value


def _development_secret(var_dir: Path) -> str:
    """Return the secret kept in ``var/secret_key``, creating it once."""
    path = var_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when several processes start at once, exactly one writes it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(candidate)
    return candidate
