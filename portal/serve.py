"""``python -m portal.serve``: uvicorn serving the portal, each request head to a deadline.

What ``antrean run`` and ``antrean web`` start (``portal.cli.run.web_command``).
uvicorn's own command line cannot be given a protocol with arguments, so this
calls ``uvicorn.run`` with the protocol of ``portal.header_deadline`` and the
header timeout of the settings; everything else is as ``uvicorn`` would be run
by hand. uvicorn's proxy-header handling stays off: which forwarded address is
believed is the portal's rule (the trusted proxies), not the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import cast

import uvicorn

from portal.header_deadline import H11HeaderDeadline
from portal.settings import Settings, SettingsError

APP = "portal.asgi:app_from_env"
# A stopping node finishes the requests in flight for this long, then closes.
GRACEFUL_SHUTDOWN_SECONDS = 20


# A protocol class of portal.header_deadline: called with uvicorn's arguments and
# the ``header_timeout`` keyword.
HeaderDeadlineProtocol = Callable[..., asyncio.Protocol]


def header_deadline_protocol() -> HeaderDeadlineProtocol:
    """The protocol class to serve with: httptools' parser when installed, else h11's."""
    try:
        from portal.header_deadline_httptools import HttpToolsHeaderDeadline
    except ImportError:  # httptools is an optional part of uvicorn[standard]
        return H11HeaderDeadline
    return HttpToolsHeaderDeadline


def serve(settings: Settings, protocol: HeaderDeadlineProtocol | None = None) -> None:
    """Serve the portal on ``settings.host``:``settings.port`` until a signal stops it."""
    chosen = protocol or header_deadline_protocol()
    # A partial of a module-level class pickles, so each worker process gets it too;
    # uvicorn calls it as it would call the class.
    http = cast("type[asyncio.Protocol]",
                partial(chosen, header_timeout=float(settings.header_timeout_seconds)))
    uvicorn.run(APP, factory=True, host=settings.host, port=settings.port,
                workers=settings.web_workers, http=http, access_log=False,
                proxy_headers=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)


def main(argv: list[str] | None = None) -> None:
    """Read the settings, let the command line name the address and workers, serve."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"antrean: {exc}")
    parser = argparse.ArgumentParser(prog="python -m portal.serve", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--workers", type=int, default=settings.web_workers)
    args = parser.parse_args(argv)
    serve(replace(settings, host=args.host, port=args.port, web_workers=args.workers))


if __name__ == "__main__":
    main()
