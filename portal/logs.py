"""Logs an operator can read: one format for every process, a request id on every line.

Text by default (``2026-08-14 08:00:01,234 WARNING antrean.portal [3f9c01a2-1b] …``),
JSON lines when ``ANTREAN_LOG_FORMAT=json`` (one object a line, for a log
collector). The request id is the one in the ``X-Request-ID`` header the
portal answers with and the error pages show, so a visitor's screenshot leads
to the lines of their request. The access log (``ANTREAN_ACCESS_LOG``) names
routes, not the paths asked for: a queue token or a booking code in a path is
a credential, and query strings (which may hold anything) are never written.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import re
import sys
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from starlette.types import Scope

from portal.addresses import trusted_peer
from portal.environment import Network

REQUEST_ID: ContextVar[str] = ContextVar("antrean_request_id", default="-")
HEADER = b"x-request-id"
# An id from a trusted proxy is kept when it looks like one (HAProxy's unique-id).
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{6,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

access_log = logging.getLogger("antrean.access")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, request id, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
            "message": record.getMessage(),
        }
        for key in ("method", "route", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """Whatever ``sys.stderr`` is when a record comes (a test's capture, a redirect)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Send every logger's records to stderr in ``log_format`` (``text`` or ``json``).

    Called once by each process (web, worker, loop, the runner); calling it again
    replaces the handler it installed, so tests and reloads do not double lines.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_antrean", False):
            root.removeHandler(handler)
    handler = _Stderr()
    handler._antrean = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())


# Ids made here: a random prefix per process and a counter, unique across machines
# without a random draw per request.
_PREFIX = os.urandom(4).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """An id no other request of any process is likely to have."""
    return f"{_PREFIX}-{next(_COUNTER):x}"


# A hot path names its route template here, as the router would through path_params.
ROUTE_KEY = "antrean.route"
_SECRET_SEGMENT = re.compile(r"[^/]*\d{6,}[^/]*|[^/]{20,}")


def route_of(scope: Scope) -> str:
    """The path with every parameter replaced by its name: ``/antre/{token}``.

    Path parameters are named by the route that matched; a path no route matched
    (or a hot path) has long or digit-heavy segments replaced by ``…`` instead.
    """
    named = scope.get(ROUTE_KEY)
    if named is not None:
        return str(named)
    path = str(scope.get("path", ""))
    params = scope.get("path_params")
    if not params:
        return _without_secrets(path)
    for name, value in params.items():
        if value not in (None, ""):
            path = path.replace(str(value), "{" + name + "}")
    return _SECRET_SEGMENT.sub("…", path)


@lru_cache(maxsize=1024)
def _without_secrets(path: str) -> str:
    # A path without parameters: the same few (a join, a page) again and again.
    return _SECRET_SEGMENT.sub("…", path)


def incoming_request_id(scope: Scope, proxies: tuple[Network, ...]) -> str | None:
    """The ``X-Request-ID`` a trusted proxy sent, when it looks like one."""
    if not proxies:
        return None
    client = scope.get("client")
    if not client or not trusted_peer(client[0], proxies):
        return None
    for name, value in scope["headers"]:
        if name == HEADER and _WELL_FORMED.fullmatch(value):
            return value.decode()
    return None


def log_access(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    """The access log's line of one request: method, route template, status, time."""
    route = route_of(scope)
    access_log.info("%s %s %s %.1f ms", scope["method"], route, status or "-", seconds * 1000,
                    extra={"method": scope["method"], "route": route, "status": status,
                           "request_id": request_id,
                           "duration_ms": round(seconds * 1000, 1)})
