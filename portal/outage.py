"""Saying once that a dependency went away, and once that it came back."""

from __future__ import annotations

import logging

import redis
from sqlalchemy import exc as sql_errors

REMIND_AFTER = 300.0  # while an outage lasts, one reminder line every five minutes


def describe(exc: BaseException) -> tuple[str, str]:
    """What kind of failure this is, and a detail safe to log.

    The detail is the message of connection-level errors only (they name a host
    or a socket, never a visitor); anything else is named by its class alone,
    since a message may quote the values a query or a script was given.
    """
    name = type(exc).__name__
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return f"Redis unreachable: {name}", _first_line(exc)
    if isinstance(exc, redis.RedisError):
        return f"Redis error: {name}", ""
    if isinstance(exc, sql_errors.OperationalError | sql_errors.InterfaceError):
        cause = exc.orig if exc.orig is not None else exc  # the driver's own error
        return f"database unreachable: {type(cause).__name__}", _first_line(cause)
    if isinstance(exc, sql_errors.SQLAlchemyError):
        return f"database error: {name}", ""
    if isinstance(exc, OSError):
        return f"step failed: {name}", _first_line(exc)
    return f"step failed: {name}", ""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


class Outage:
    """One line when steps start failing, a reminder now and then, one line when they work again."""

    def __init__(self, logger: logging.Logger, who: str,
                 remind_after: float = REMIND_AFTER) -> None:
        self.logger = logger
        self.who = who
        self.remind_after = remind_after
        self.since: float | None = None
        self.kind = ""
        self.reminded_at = 0.0

    def failed(self, exc: BaseException, now: float) -> None:
        """Log the failure if it starts an outage or is of another kind than the last one."""
        kind, detail = describe(exc)
        text = f"{kind}: {detail}" if detail else kind
        if self.since is None or kind != self.kind:
            self.since = now if self.since is None else self.since
            self.kind, self.reminded_at = kind, now
            self.logger.warning("%s: %s", self.who, text)
        elif now - self.reminded_at >= self.remind_after:
            self.reminded_at = now
            self.logger.warning("%s: still failing after %.0f s: %s", self.who,
                                now - self.since, text)

    def succeeded(self, now: float) -> None:
        """Log the end of an outage, if there was one."""
        if self.since is not None:
            self.logger.info("%s: back after %.0f s", self.who, now - self.since)
            self.since, self.kind = None, ""
