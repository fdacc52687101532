"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from portal import health, logo, openapi
from portal.admin import (
    accounts,
    calendar_page,
    dashboard,
    exports,
    identity,
    live_settings,
    live_settings_api,
    metrics,
    notifications,
    planner_page,
    roster,
    roster_upload,
)
from portal.admin.latency import FormLatency
from portal.bodies import BodyLimit
from portal.booking import api as booking_api
from portal.booking import pages as booking_pages
from portal.db import create_db_engine, session_factory
from portal.errors import EXCEPTION_HANDLERS
from portal.form import pages as form_pages
from portal.form import receipts
from portal.i18n import create_templates
from portal.identity import routes as identity_routes
from portal.keys import PortalKeys
from portal.middleware import SecurityHeaders
from portal.observe import Observed
from portal.outage import Outage
from portal.settings import Settings
from portal.state import PortalState
from portal.telemetry import TALLY
from portal.visitor import gate, move, queue_api, queue_pages, status
from portal.visitor.hotpath import HotPaths
from waitroom.room import WaitingRoom
from waitroom.tokens import TokenSigner

log = logging.getLogger("antrean.portal")

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
TICK_INTERVAL = 0.5
UPKEEP_GRACE_SECONDS = 5.0


async def upkeep(room: WaitingRoom, tick: bool, stop: asyncio.Event) -> None:
    """Every half second until ``stop`` is set: the room's snapshot, touches and tick,
    and this process's request figures handed to /metrics (``portal.telemetry``).

    The snapshot gives fast answers to polls far back, the batched "still here"
    marks are sent, and, unless disabled, admission advances without anyone
    polling (the short lock in Redis keeps the processes that all tick from doing
    the same work twice). The loop ends on ``stop`` as well as on cancellation:
    a cancellation that lands inside a Redis call can come back as a timeout
    (``asyncio.timeout`` in Python 3.11), and a shutdown must not wait on it forever.
    """
    outage = Outage(log, "room upkeep")
    while not stop.is_set():
        TALLY.hand_over()  # this process's request figures, for a scrape of another worker
        try:
            await room.refresh()
            await room.flush_touches()
            if tick:
                await room.tick_if_leader(lock_ms=int(TICK_INTERVAL * 1000 * 0.9))
        except Exception as exc:  # a dead Redis must not kill the loop; said once, not each tick
            outage.failed(exc, time.monotonic())
        else:
            outage.succeeded(time.monotonic())
        if not stop.is_set():
            await asyncio.sleep(TICK_INTERVAL)


async def stop_upkeep(task: asyncio.Task[None], stop: asyncio.Event,
                      grace: float = UPKEEP_GRACE_SECONDS) -> bool:
    """Ask the upkeep loop to end and wait at most ``grace`` seconds; whether it ended."""
    stop.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("room upkeep did not stop within %.0f s; left behind", grace)
        return False
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
    return True


_FROZEN: list[bool] = []


def _freeze_startup_heap() -> None:
    """Keep what startup loaded out of the garbage collector's full passes (once per process).

    Modules, templates and mappers live as long as the process; under load the
    collector's full passes would walk all of them every few seconds, in pauses
    of tens of milliseconds. Garbage is collected first, so only live objects are
    frozen.
    """
    if not _FROZEN:
        _FROZEN.append(True)
        gc.collect()
        gc.freeze()


class Portal(Starlette):
    """The portal: Starlette, with the hot paths (portal.visitor.hotpath) in front of everything.

    Status polls and joins are most of a crowd's requests; they are answered before
    the middleware stack, which the rest of the requests pass as usual. Every
    request's body is bounded before either sees it (portal.bodies).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._hot = HotPaths(super().__call__)
        self._front: ASGIApp = BodyLimit(self._hot)

    def request_ids(self, settings: Settings) -> None:
        """Give every request an id and count it in /metrics, hot paths included."""
        self._front = Observed(self._front, settings.trusted_proxies, settings.access_log,
                               immediate=self._hot.immediate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self._front(scope, receive, send)


def create_app(settings: Settings) -> Starlette:
    """Build the portal for ``settings``; connections open in the lifespan."""
    if settings.redis_url is None:
        raise ValueError("create_app needs settings.redis_url (antrean run starts one)")
    engine = create_db_engine(settings.database_url, settings.database)
    state = PortalState(
        settings=settings,
        keys=PortalKeys(settings.redis_prefix, settings.room),
        signer=TokenSigner(str(settings.secret_key)),
        templates=create_templates(TEMPLATES_DIR, STATIC_DIR, settings.agency,
                                   settings.timezone),
        engine=engine,
        db=session_factory(engine),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        room = state.connections.open(settings, state.keys)
        ticker: asyncio.Task[None] | None = None
        stop = asyncio.Event()
        try:
            try:
                await room.ensure_config(settings.room_defaults)
            except Exception as exc:  # start anyway; pages answer 503 until Redis is back
                log.warning("could not write room defaults: %s", type(exc).__name__)
            ticker = asyncio.create_task(upkeep(room, settings.run_ticker, stop))
            _freeze_startup_heap()
            yield
        finally:
            if ticker is not None:
                await stop_upkeep(ticker, stop)
            with contextlib.suppress(Exception):
                await room.flush_touches()
            TALLY.hand_over()
            await state.connections.close()
            engine.dispose()

    app = Portal(
        routes=[
            # The hot paths first: a route is found by trying each in turn.
            *queue_api.routes,
            *queue_pages.routes,
            *gate.routes,
            *move.routes,
            *status.routes,
            *form_pages.routes,
            *receipts.routes,
            *identity_routes.routes,
            *health.routes,
            *logo.routes,
            *booking_api.routes,
            *booking_pages.routes,
            *openapi.routes,
            # The BKD console.
            *accounts.routes,
            *dashboard.routes,
            *live_settings.routes,
            *live_settings_api.routes,
            *planner_page.routes,
            *calendar_page.routes,
            *roster.routes,
            *roster_upload.routes,
            *exports.routes,
            *identity.routes,
            *notifications.routes,
            *metrics.routes,
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(SecurityHeaders, hsts=settings.cookie_secure),
                    Middleware(FormLatency)],
        lifespan=lifespan,
    )
    app.request_ids(settings)
    app.state.portal = state
    return app
