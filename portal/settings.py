"""All settings of a process, typed, read from the environment once."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.datastructures import Secret

from portal.environment import Environment, Network, SettingsError
from portal.notify.settings import NotifySettings
from waitroom.config import ConfigError, RoomConfig

__all__ = ["AdminSettings", "NotifySettings", "Settings", "SettingsError"]

MIN_ADMIN_TOKEN = 32


@dataclass(frozen=True)
class AdminSettings:
    """The console: login throttle, session timeouts, who may read /metrics without a login."""

    metrics_allow: tuple[Network, ...] = (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
    session_idle_seconds: int = 30 * 60
    session_max_seconds: int = 12 * 3600
    account_failures: int = 5
    address_failures: int = 20
    lock_seconds: int = 15 * 60

    @classmethod
    def read(cls, env: Environment) -> AdminSettings:
        """Read ANTREAN_METRICS_ALLOW and ANTREAN_ADMIN_* variables."""
        defaults = cls()
        return cls(
            metrics_allow=env.networks("METRICS_ALLOW", defaults.metrics_allow),
            session_idle_seconds=env.whole("ADMIN_SESSION_IDLE_SECONDS",
                                           defaults.session_idle_seconds, minimum=1),
            session_max_seconds=env.whole("ADMIN_SESSION_MAX_SECONDS",
                                          defaults.session_max_seconds, minimum=1),
            account_failures=env.whole("ADMIN_ACCOUNT_FAILURES", defaults.account_failures,
                                       minimum=1),
            address_failures=env.whole("ADMIN_ADDRESS_FAILURES", defaults.address_failures,
                                       minimum=1),
            lock_seconds=env.whole("ADMIN_LOCK_SECONDS", defaults.lock_seconds, minimum=1),
        )

    def metrics_allowed_from(self, host: str | None) -> bool:
        """Whether a client address lies in one of the allowed ranges."""
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.metrics_allow)


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
    admin: AdminSettings = field(default_factory=AdminSettings)
    # As read from the environment; ``notify`` adds this process's services to it.
    notify_options: NotifySettings = field(default_factory=NotifySettings)

    def __post_init__(self) -> None:
        # A bearer token opens the live settings: short ones are guessed.
        if self.admin_token is not None and len(str(self.admin_token)) < MIN_ADMIN_TOKEN:
            raise SettingsError(f"ANTREAN_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} "
                                "characters (for example: python -c 'import secrets; "
                                "print(secrets.token_urlsafe(32))').")

    @property
    def production(self) -> bool:
        """Whether this process runs for real users."""
        return self.env == "production"

    @property
    def tz(self) -> ZoneInfo:
        """The registration's time zone."""
        return ZoneInfo(self.timezone)

    @cached_property
    def notify(self) -> NotifySettings:
        """The notification settings, sharing this process's services, zone and secret."""
        return replace(self.notify_options, env=self.env, var_dir=self.var_dir,
                       redis_url=self.redis_url, redis_prefix=self.redis_prefix,
                       database_url=self.database_url, timezone=self.timezone,
                       secret_key=self.secret_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ANTREAN_* variable (the process's own when none are given)."""
        env = Environment(os.environ if environ is None else environ)
        mode = env.choice("ENV", ("development", "production", "test"), "development")
        production = mode == "production"
        var_dir = Path(env.text("VAR_DIR", "var") or "var").resolve()

        database_url = env.text("DATABASE_URL")
        secret = env.text("SECRET_KEY")
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

        timezone = env.text("TIMEZONE", "Asia/Jakarta") or "Asia/Jakarta"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"ANTREAN_TIMEZONE {timezone!r} is not a known time zone") from exc

        fail_mode = env.choice("FAIL_MODE", ("closed", "open"), "closed")
        defaults = RoomConfig()
        try:
            room_defaults = defaults.changed(
                max_active=env.whole("MAX_ACTIVE", defaults.max_active),
                admit_per_minute=env.whole("ADMIT_PER_MINUTE", defaults.admit_per_minute),
                session_ttl_seconds=env.whole("SESSION_TTL_SECONDS",
                                              defaults.session_ttl_seconds),
                idle_timeout_seconds=env.whole("IDLE_TIMEOUT_SECONDS",
                                               defaults.idle_timeout_seconds),
                claim_window_seconds=env.whole("CLAIM_WINDOW_SECONDS",
                                               defaults.claim_window_seconds),
                stale_after_seconds=env.whole("STALE_AFTER_SECONDS",
                                              defaults.stale_after_seconds),
                fail_open=fail_mode == "open",
            )
        except ConfigError as exc:
            raise SettingsError(f"invalid waiting-room setting: {exc}") from exc

        host = env.text("HOST", "127.0.0.1") or "127.0.0.1"
        port = env.whole("PORT", 8000)
        return cls(
            env=mode,
            var_dir=var_dir,
            database_url=_normalise_database_url(database_url),
            redis_url=env.text("REDIS_URL"),
            secret_key=Secret(secret),
            timezone=timezone,
            host=host,
            port=port,
            web_workers=env.whole("WEB_WORKERS", 1, minimum=1),
            room=env.text("ROOM", "main") or "main",
            redis_prefix=env.text("REDIS_PREFIX", "antrean") or "antrean",
            admin_token=env.secret("ADMIN_TOKEN"),
            cookie_secure=env.flag("COOKIE_SECURE", production),
            run_ticker=env.flag("TICKER", True),
            join_rate_per_minute=env.whole("JOIN_RATE_PER_MINUTE", 30, minimum=1),
            room_defaults=room_defaults,
            demo=env.flag("DEMO", not production),
            language=env.choice("LANG", ("id", "en"), "id"),
            admin=AdminSettings.read(env),
            notify_options=NotifySettings.read(env, production=production,
                                               default_public_url=f"http://{host}:{port}"),
        )


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
