"""All settings of a process, typed, read from the environment once."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.datastructures import Secret

from portal.agency import Agency
from portal.db import DatabaseOptions
from portal.environment import Environment, Network, SettingsError
from portal.notify.settings import NotifySettings
from portal.passwords import Passwords, passwords_at
from portal.redis_target import job_redis_target, parse_redis_url
from waitroom.config import ConfigError, RoomConfig

__all__ = ["AdminSettings", "NotifySettings", "Settings", "SettingsError", "UploadSettings"]

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
    # argon2id as RFC 9106 recommends for machines short of memory: 3 passes over 64 MiB
    # (about 0.1 s a login on a 2-core machine). Hashes carry their own cost: a changed cost
    # applies to new passwords, and to old ones at their next login.
    password_time_cost: int = 3
    password_memory_kib: int = 64 * 1024

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
            password_time_cost=env.whole("ADMIN_PASSWORD_TIME_COST",
                                         defaults.password_time_cost, minimum=1),
            password_memory_kib=env.whole("ADMIN_PASSWORD_MEMORY_KIB",
                                          defaults.password_memory_kib, minimum=8 * 4),
        )

    @property
    def passwords(self) -> Passwords:
        """The password hasher of these settings (one per cost, shared)."""
        return passwords_at(self.password_time_cost, self.password_memory_kib)

    def metrics_allowed_from(self, host: str | None) -> bool:
        """Whether a client address lies in one of the allowed ranges."""
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.metrics_allow)


# S3's rules for bucket names (3-63 lower-case letters, digits, dots and hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")
S3_ACLS = ("private", "bucket-owner-full-control", "none")


@dataclass(frozen=True)
class UploadSettings:
    """Where uploaded documents are kept: a local directory, or one S3-compatible bucket."""

    store: str = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # Unset: boto3 finds credentials itself (AWS_* variables, profile, instance role).
    s3_access_key_id: Secret | None = None
    s3_secret_access_key: Secret | None = None
    s3_prefix: str = "uploads/"
    s3_acl: str = "private"

    @classmethod
    def read(cls, env: Environment) -> UploadSettings:
        """Read ANTREAN_UPLOAD_STORE and ANTREAN_S3_*; refuse settings that cannot work."""
        store = env.choice("UPLOAD_STORE", ("local", "s3"), "local")
        names = ("S3_BUCKET", "S3_ENDPOINT_URL", "S3_REGION", "S3_ACCESS_KEY_ID",
                 "S3_SECRET_ACCESS_KEY", "S3_PREFIX", "S3_ACL")
        if store == "local":
            # Forgetting ANTREAN_UPLOAD_STORE=s3 would quietly keep each node's files apart.
            given = [f"ANTREAN_{name}" for name in names if env.text(name) is not None]
            if given:
                raise SettingsError(", ".join(given) + " set, but ANTREAN_UPLOAD_STORE is "
                                    "local: set ANTREAN_UPLOAD_STORE=s3 or remove them.")
            return cls()
        bucket = env.text("S3_BUCKET")
        if bucket is None:
            raise SettingsError("ANTREAN_UPLOAD_STORE=s3 needs ANTREAN_S3_BUCKET.")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise SettingsError(f"ANTREAN_S3_BUCKET {bucket!r} is not a valid bucket name "
                                "(3-63 lower-case letters, digits, dots and hyphens).")
        endpoint = env.text("S3_ENDPOINT_URL")
        if endpoint is not None:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SettingsError("ANTREAN_S3_ENDPOINT_URL must be an http:// or https:// "
                                    "address, like https://s3.example.go.id")
        key_id, secret = env.secret("S3_ACCESS_KEY_ID"), env.secret("S3_SECRET_ACCESS_KEY")
        if (key_id is None) != (secret is None):
            raise SettingsError("ANTREAN_S3_ACCESS_KEY_ID and ANTREAN_S3_SECRET_ACCESS_KEY "
                                "go together: set both, or neither to use the AWS "
                                "environment or instance role.")
        prefix = (env.text("S3_PREFIX", "uploads/") or "").strip("/")
        if not _PREFIX.fullmatch(prefix) or "//" in prefix or ".." in prefix.split("/"):
            raise SettingsError("ANTREAN_S3_PREFIX may hold only letters, digits and . _ - /")
        return cls(store="s3", s3_bucket=bucket, s3_endpoint_url=endpoint,
                   s3_region=env.text("S3_REGION"), s3_access_key_id=key_id,
                   s3_secret_access_key=secret, s3_prefix=f"{prefix}/" if prefix else "",
                   s3_acl=env.choice("S3_ACL", S3_ACLS, "private"))


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
    database: DatabaseOptions = field(default_factory=DatabaseOptions)
    # The room's Redis (one server, a cluster or a Sentinel-managed primary; see
    # portal.redis_target) and the job queue's, which RQ needs outside any cluster.
    redis_url: str | None = None
    job_redis_url: str | None = None
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
    # Hops whose Forwarded / X-Forwarded-For headers are believed (see portal.addresses).
    trusted_proxies: tuple[Network, ...] = ()
    # Logs: "text" or "json" lines, the level, and whether every request is logged.
    log_format: str = "text"
    log_level: str = "INFO"
    access_log: bool = False
    # Seconds a request body may go without a byte before the request is answered 408.
    body_timeout_seconds: float = 15.0
    # Seconds a request line and headers may take (portal.header_deadline).
    header_timeout_seconds: int = 20
    # The per-address join bucket: this many joins at once, refilled at the rate.
    join_burst: int = 120
    join_rate_per_minute: int = 60
    room_defaults: RoomConfig = field(default_factory=RoomConfig)
    demo: bool = True
    language: str = "id"
    admin: AdminSettings = field(default_factory=AdminSettings)
    agency: Agency = field(default_factory=Agency)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    # As read from the environment; ``notify`` adds this process's services to it.
    notify_options: NotifySettings = field(default_factory=NotifySettings)

    def __post_init__(self) -> None:
        # A bearer token opens the live settings: short ones are guessed.
        if self.admin_token is not None and len(str(self.admin_token)) < MIN_ADMIN_TOKEN:
            raise SettingsError(f"ANTREAN_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} "
                                "characters (for example: python -c 'import secrets; "
                                "print(secrets.token_urlsafe(32))').")
        if self.redis_url is not None:
            room = parse_redis_url(self.redis_url)
            if room.cluster and self.job_redis_url is None:
                raise SettingsError(
                    "ANTREAN_REDIS_URL names a Redis Cluster, and the job queue (RQ) cannot "
                    "run on one: set ANTREAN_JOB_REDIS_URL to one Redis server or a "
                    "Sentinel-managed primary (redis://host:6379/0 or "
                    "redis+sentinel://host:26379/service/0).")
        if self.job_redis_url is not None:
            job_redis_target(self.job_redis_url)

    @property
    def job_url(self) -> str | None:
        """The job queue's Redis: ANTREAN_JOB_REDIS_URL, else the room's own."""
        return self.job_redis_url or self.redis_url

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
                       redis_url=self.redis_url, job_redis_url=self.job_redis_url,
                       redis_prefix=self.redis_prefix,
                       database_url=self.database_url, database=self.database,
                       timezone=self.timezone,
                       secret_key=self.secret_key, agency=self.agency,
                       uploads=self.uploads)

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
            database=DatabaseOptions(
                pool_size=env.whole("DB_POOL_SIZE", DatabaseOptions.pool_size, minimum=1),
                max_overflow=env.whole("DB_MAX_OVERFLOW", DatabaseOptions.max_overflow,
                                       minimum=0),
                pool_timeout=env.number("DB_POOL_TIMEOUT", DatabaseOptions.pool_timeout),
                pgbouncer=env.flag("DB_PGBOUNCER", False)),
            redis_url=env.text("REDIS_URL"),
            job_redis_url=env.text("JOB_REDIS_URL"),
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
            trusted_proxies=env.networks("TRUSTED_PROXIES", ()),
            log_format=env.choice("LOG_FORMAT", ("text", "json"), "text"),
            log_level=env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO",
                                 fold="upper"),
            access_log=env.flag("ACCESS_LOG", False),
            body_timeout_seconds=max(0.1, env.number("BODY_TIMEOUT_SECONDS", 15.0)),
            header_timeout_seconds=env.whole("HEADER_TIMEOUT_SECONDS", 20, minimum=1,
                                             maximum=300),
            join_burst=env.whole("JOIN_BURST", 120, minimum=1),
            join_rate_per_minute=env.whole("JOIN_RATE_PER_MINUTE", 60, minimum=1),
            room_defaults=room_defaults,
            demo=env.flag("DEMO", not production),
            language=env.choice("LANG", ("id", "en"), "id"),
            admin=AdminSettings.read(env),
            agency=Agency.read(env),
            uploads=UploadSettings.read(env),
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
