"""The console's own settings, read from the environment once per app."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.applications import Starlette

from portal.settings import SettingsError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AdminSettings:
    """Login throttle, session timeouts and who may read /metrics without logging in."""

    metrics_allow: tuple[Network, ...] = (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
    session_idle_seconds: int = 30 * 60
    session_max_seconds: int = 12 * 3600
    account_failures: int = 5
    address_failures: int = 20
    lock_seconds: int = 15 * 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AdminSettings:
        """Read ANTREAN_METRICS_ALLOW and ANTREAN_ADMIN_* variables."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: int) -> int:
            raw = env.get(f"ANTREAN_{name}") or ""
            if not raw:
                return default
            if not raw.isdigit() or int(raw) < 1:
                raise SettingsError(f"ANTREAN_{name} must be a positive whole number")
            return int(raw)

        allow = defaults.metrics_allow
        raw_allow = env.get("ANTREAN_METRICS_ALLOW")
        if raw_allow is not None:
            try:
                allow = tuple(ipaddress.ip_network(part.strip(), strict=False)
                              for part in raw_allow.split(",") if part.strip())
            except ValueError as exc:
                raise SettingsError(f"ANTREAN_METRICS_ALLOW: {exc}") from exc
        return cls(
            metrics_allow=allow,
            session_idle_seconds=number("ADMIN_SESSION_IDLE_SECONDS",
                                        defaults.session_idle_seconds),
            session_max_seconds=number("ADMIN_SESSION_MAX_SECONDS", defaults.session_max_seconds),
            account_failures=number("ADMIN_ACCOUNT_FAILURES", defaults.account_failures),
            address_failures=number("ADMIN_ADDRESS_FAILURES", defaults.address_failures),
            lock_seconds=number("ADMIN_LOCK_SECONDS", defaults.lock_seconds),
        )

    def metrics_allowed_from(self, host: str | None) -> bool:
        """Whether a client address lies in one of the allowed ranges."""
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.metrics_allow)


def admin_settings(app: Starlette) -> AdminSettings:
    """The app's admin settings (tests may put their own on ``app.state.admin_settings``)."""
    found = getattr(app.state, "admin_settings", None)
    if not isinstance(found, AdminSettings):
        found = AdminSettings.from_env()
        app.state.admin_settings = found
    return found
