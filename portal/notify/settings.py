"""Notification settings, typed, read from the environment once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.datastructures import Secret

from portal.agency import Agency
from portal.db import DatabaseOptions
from portal.environment import Environment, SettingsError
from portal.notify.gateway import SuccessRule, parse_statuses, split_credentials

if TYPE_CHECKING:
    from portal.settings import UploadSettings

CHANNELS = ("email", "sms")
_OFFSET = re.compile(r"^\s*(\d+)\s*([dhms])\s*$")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_offsets(raw: str) -> tuple[timedelta, ...]:
    """Parse ``"1d,30m"`` into offsets, largest first."""
    offsets: list[timedelta] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        match = _OFFSET.match(part)
        if match is None or int(match.group(1)) == 0:
            raise SettingsError(f"ANTREAN_REMINDER_OFFSETS: cannot read {part.strip()!r} "
                                "(use e.g. 1d,2h,30m)")
        offsets.append(timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)]))
    return tuple(sorted(set(offsets), reverse=True))


def offset_label(offset: timedelta) -> str:
    """The short name of an offset used in purposes, e.g. ``1d`` or ``30m``."""
    seconds = int(offset.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_rates(raw: str) -> dict[str, float]:
    """Parse ``"20"`` (every channel) or ``"email=20,sms=5"`` into rates per second."""
    rates: dict[str, float] = {}
    try:
        if "=" not in raw:
            return dict.fromkeys(CHANNELS, float(raw))
        for part in raw.split(","):
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in CHANNELS:
                raise SettingsError(f"ANTREAN_NOTIFY_CHANNEL_RATE_PER_SECOND: unknown channel "
                                    f"{name!r}")
            rates[name] = float(value)
    except ValueError as exc:
        raise SettingsError(f"ANTREAN_NOTIFY_CHANNEL_RATE_PER_SECOND: cannot read {raw!r}") from exc
    if any(rate < 0 for rate in rates.values()):
        raise SettingsError("ANTREAN_NOTIFY_CHANNEL_RATE_PER_SECOND must not be negative")
    return rates


@dataclass(frozen=True)
class NotifySettings:
    """How messages are rendered, rate-limited, retried and delivered."""

    env: str = "development"
    var_dir: Path = Path("var")
    redis_url: str | None = None
    job_redis_url: str | None = None
    redis_prefix: str = "antrean"
    database_url: str = ""
    database: DatabaseOptions = field(default_factory=DatabaseOptions)
    timezone: str = "Asia/Jakarta"
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    public_url: str = "http://127.0.0.1:8000"
    agency: Agency = field(default_factory=Agency)
    # Where roster imports wait for a worker (None: the local store under var_dir).
    uploads: UploadSettings | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    smtp_security: str = "none"  # none | starttls | tls
    smtp_from: str = "Antrean BKD <noreply@antrean.invalid>"
    smtp_timeout: float = 30.0
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_body_template: str = '{"to": "{to}", "message": "{message}"}'
    sms_content_type: str = "json"  # json | form
    sms_auth_header: Secret | None = None  # e.g. "Authorization: Bearer ..."
    # The user-info of ANTREAN_SMS_URL as an Authorization value ("Basic ..."); the
    # URL itself is kept without it.
    sms_basic_auth: Secret | None = None
    sms_success: SuccessRule = field(default_factory=SuccessRule)
    sms_timeout: float = 10.0
    outbox: bool = True
    channel_rates: Mapping[str, float] = field(
        default_factory=lambda: {"email": 20.0, "sms": 5.0}
    )
    retry_intervals: tuple[int, ...] = (10, 60, 300, 900)
    lease_seconds: int = 300
    job_timeout_seconds: int = 120
    reminder_offsets: tuple[timedelta, ...] = (timedelta(days=1), timedelta(minutes=30))

    @property
    def job_url(self) -> str | None:
        """The job queue's Redis: ANTREAN_JOB_REDIS_URL, else the room's own."""
        return self.job_redis_url or self.redis_url

    @property
    def outbox_dir(self) -> Path:
        """Where development messages are written, one file each."""
        return self.var_dir / "outbox"

    def rate_for(self, channel: str) -> float:
        """Messages per second allowed on ``channel`` (0 means unlimited)."""
        return float(self.channel_rates.get(channel, 0.0))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifySettings:
        """The notification settings of ``Settings.from_env`` (the one reader)."""
        from portal.settings import Settings

        return Settings.from_env(environ).notify

    @classmethod
    def read(cls, env: Environment, *, production: bool,
             default_public_url: str) -> NotifySettings:
        """Read ANTREAN_SMTP_*, ANTREAN_SMS_*, ANTREAN_NOTIFY_* and friends."""
        get, get_number = env.text, env.number
        security = env.choice("SMTP_SECURITY", ("none", "starttls", "tls"), "none")
        content_type = env.choice("SMS_CONTENT_TYPE", ("json", "form"), "json")
        method = env.choice("SMS_METHOD", ("GET", "POST", "PUT"), "POST", fold="upper")
        smtp_host = get("SMTP_HOST")
        outbox_raw = (get("OUTBOX") or "").lower()
        if outbox_raw in ("", "auto"):
            # Development without a mail server still shows every message.
            outbox = smtp_host is None and not production
        elif outbox_raw in ("1", "true", "yes", "on"):
            outbox = True
        elif outbox_raw in ("0", "false", "no", "off"):
            outbox = False
        else:
            raise SettingsError("ANTREAN_OUTBOX must be true, false or auto")
        intervals_raw = get("NOTIFY_RETRY_INTERVALS", "10,60,300,900") or ""
        try:
            intervals = tuple(int(part) for part in intervals_raw.split(",") if part.strip())
        except ValueError as exc:
            raise SettingsError("ANTREAN_NOTIFY_RETRY_INTERVALS must be seconds, "
                                "e.g. 10,60,300") from exc
        lease = int(get_number("NOTIFY_LEASE_SECONDS", 300))
        job_timeout = int(get_number("NOTIFY_JOB_TIMEOUT_SECONDS", 120))
        if lease <= job_timeout:
            # A lease shorter than a job's run would hand a live job's message to another.
            raise SettingsError("ANTREAN_NOTIFY_LEASE_SECONDS must exceed "
                                "ANTREAN_NOTIFY_JOB_TIMEOUT_SECONDS")
        sms_url, sms_basic_auth = _sms_url(env)
        default_port = {"none": 25, "starttls": 587, "tls": 465}[security]
        return cls(
            public_url=(get("PUBLIC_URL") or default_public_url).rstrip("/"),
            smtp_host=smtp_host,
            smtp_port=int(get_number("SMTP_PORT", default_port)),
            smtp_username=get("SMTP_USERNAME"),
            smtp_password=env.secret("SMTP_PASSWORD"),
            smtp_security=security,
            smtp_from=get("SMTP_FROM", cls.smtp_from) or cls.smtp_from,
            smtp_timeout=get_number("SMTP_TIMEOUT", 30.0),
            sms_url=sms_url,
            sms_basic_auth=sms_basic_auth,
            sms_success=_sms_success(env),
            sms_method=method,
            sms_body_template=get("SMS_BODY_TEMPLATE", cls.sms_body_template)
            or cls.sms_body_template,
            sms_content_type=content_type,
            sms_auth_header=env.secret("SMS_AUTH_HEADER"),
            sms_timeout=get_number("SMS_TIMEOUT", 10.0),
            outbox=outbox,
            channel_rates=parse_rates(get("NOTIFY_CHANNEL_RATE_PER_SECOND", "email=20,sms=5")
                                      or ""),
            retry_intervals=intervals,
            lease_seconds=lease,
            job_timeout_seconds=job_timeout,
            reminder_offsets=parse_offsets(get("REMINDER_OFFSETS", "1d,30m") or ""),
        )



def _sms_url(env: Environment) -> tuple[str | None, Secret | None]:
    """ANTREAN_SMS_URL without its user-info, and that user-info as Basic authorisation."""
    raw = env.text("SMS_URL")
    if raw is None:
        return None, None
    url, basic = split_credentials(raw)
    if basic is None:
        return url, None
    header = str(env.secret("SMS_AUTH_HEADER") or "")
    if header.partition(":")[0].strip().lower() == "authorization":
        raise SettingsError("ANTREAN_SMS_URL carries a user and password and "
                            "ANTREAN_SMS_AUTH_HEADER an Authorization header: keep one")
    return url, Secret(basic)


def _sms_success(env: Environment) -> SuccessRule:
    """ANTREAN_SMS_SUCCESS_*: the statuses, JSON field and pattern that mean "sent"."""
    try:
        statuses = parse_statuses(env.text("SMS_SUCCESS_STATUSES", "2xx") or "2xx")
    except ValueError as exc:
        raise SettingsError(f"ANTREAN_SMS_SUCCESS_STATUSES: {exc}") from exc
    name = (env.text("SMS_SUCCESS_FIELD") or "").strip() or None
    values = tuple(v.strip() for v in (env.text("SMS_SUCCESS_VALUES") or "").split(",")
                   if v.strip())
    if (name is None) != (not values):
        raise SettingsError("ANTREAN_SMS_SUCCESS_FIELD and ANTREAN_SMS_SUCCESS_VALUES "
                            "go together (e.g. status and ok,sent,queued)")
    pattern_raw = env.text("SMS_SUCCESS_PATTERN")
    try:
        pattern = re.compile(pattern_raw) if pattern_raw else None
    except re.error as exc:
        raise SettingsError(f"ANTREAN_SMS_SUCCESS_PATTERN is not a regular expression: "
                            f"{exc}") from exc
    return SuccessRule(statuses, name, values, pattern)
