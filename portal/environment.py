"""The one reader of ``ANTREAN_*`` environment variables, typed, with clear refusals."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from starlette.datastructures import Secret

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(RuntimeError):
    """The environment does not describe a process that can start."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Environment:
    """Typed reads of ``ANTREAN_<NAME>`` from one mapping; an empty value counts as unset."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self._variables = dict(variables)

    def text(self, name: str, default: str | None = None) -> str | None:
        """The raw value, or ``default`` when unset or empty."""
        value = self._variables.get(f"ANTREAN_{name}")
        return value if value not in (None, "") else default

    def has(self, name: str) -> bool:
        """Whether the variable is set at all (even to an empty value)."""
        return f"ANTREAN_{name}" in self._variables

    def whole(self, name: str, default: int, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
        """A whole number, at least ``minimum`` and at most ``maximum`` when they are given."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingsError(f"ANTREAN_{name} must be a whole number, not {raw!r}") from exc
        if minimum is not None and value < minimum:
            raise SettingsError(f"ANTREAN_{name} must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise SettingsError(f"ANTREAN_{name} must be at most {maximum}, not {value}")
        return value

    def number(self, name: str, default: float) -> float:
        """A number (decimals allowed)."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError as exc:
            raise SettingsError(f"ANTREAN_{name} must be a number, not {raw!r}") from exc

    def flag(self, name: str, default: bool) -> bool:
        """true/false (also 1/0, yes/no, on/off)."""
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(f"ANTREAN_{name} must be true or false, not {raw!r}")

    def choice(self, name: str, options: tuple[str, ...], default: str, *,
               fold: str = "lower") -> str:
        """One of ``options`` (compared after folding case)."""
        raw = self.text(name, default) or default
        value = raw.upper() if fold == "upper" else raw.lower()
        if value not in options:
            raise SettingsError(f"ANTREAN_{name} must be " + ", ".join(options[:-1])
                                + f" or {options[-1]}")
        return value

    def secret(self, name: str) -> Secret | None:
        """A value kept out of reprs and logs."""
        raw = self.text(name)
        return Secret(raw) if raw else None

    def networks(self, name: str, default: tuple[Network, ...]) -> tuple[Network, ...]:
        """Comma-separated addresses or ranges (CIDR); set but empty means none."""
        if not self.has(name):
            return default
        raw = self._variables.get(f"ANTREAN_{name}", "")
        networks = []
        for part in (part.strip() for part in raw.split(",")):
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise SettingsError(
                    f"ANTREAN_{name}: {part!r} is not an IP address or a range in CIDR "
                    "notation (like 10.0.0.5, 10.0.0.0/8 or 2001:db8::/32)") from exc
        return tuple(networks)
