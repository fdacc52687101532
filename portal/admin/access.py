"""Who may see which console page: sessions, roles, CSRF-checked forms, rendering."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.admin import audit
from portal.admin.apitokens import find_token
from portal.admin.auth import SESSION_COOKIE, Actor, AdminSessions, LoginThrottle
from portal.admin.show import Show
from portal.attempts import BEARER_TOKEN, count_failure, refused_for_failures
from portal.browser import client_address
from portal.errors import error_page, json_error, wants_json
from portal.i18n import N_, language_of, templates_for
from portal.state import PortalState, state_of
from portal.web import Refused, refusal_page, render

Endpoint = Callable[[Request], Awaitable[Response]]

# What each role sees in the menu: (path, label, least role).
MENU = (
    ("/admin", N_("Dasbor"), "viewer"),
    ("/admin/perencana", N_("Perencana"), "operator"),
    ("/admin/peserta", N_("Peserta"), "operator"),
    ("/admin/peserta/unggah", N_("Unggah daftar"), "operator"),
    ("/admin/notifikasi", N_("Notifikasi"), "operator"),
    ("/admin/ekspor", N_("Ekspor"), "operator"),
    ("/admin/pengaturan", N_("Pengaturan"), "admin"),
    ("/admin/kalender", N_("Kalender"), "admin"),
    ("/admin/pengguna", N_("Pengguna"), "admin"),
    ("/admin/token", N_("Token API"), "admin"),
    ("/admin/audit", N_("Log audit"), "admin"),
)


def sessions_of(state: PortalState) -> AdminSessions:
    """The console's session store."""
    return AdminSessions(state.redis, state.keys, state.admin)


def throttle_of(state: PortalState) -> LoginThrottle:
    """The login throttle."""
    return LoginThrottle(state.redis, state.keys, state.admin)


async def session_actor(request: Request) -> Actor | None:
    """The operator logged in on this browser, if any."""
    return await sessions_of(state_of(request)).actor(request.cookies.get(SESSION_COOKIE))


def _token_actor(request: Request, presented: str) -> Actor | None:
    with state_of(request).db() as session:
        row = find_token(session, presented)
        if row is None:
            return None
        actor = Actor(f"token:{row.name}", "admin", row.created_by)
        session.commit()
    return actor


async def token_actor(request: Request, presented: str) -> Actor | None:
    """The actor of a console-made API token, or None when it is unknown or revoked."""
    return await run_in_threadpool(_token_actor, request, presented)


async def bearer_actor(request: Request) -> Actor | None:
    """The actor of an ``Authorization: Bearer`` token (ANTREAN_ADMIN_TOKEN or console-made)."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        return None
    state = state_of(request)
    address = client_address(request)
    if await refused_for_failures(state.redis, state.keys, BEARER_TOKEN, address):
        return None  # past the limit: not even a right token is checked
    expected = state.settings.admin_token
    if expected is not None and hmac.compare_digest(presented.encode(), str(expected).encode()):
        return Actor("api-token", "admin")
    actor = await token_actor(request, presented)
    if actor is None:
        await count_failure(state.redis, state.keys, BEARER_TOKEN, address)
    return actor


def audit_settings_change(request: Request, actor: Actor, before: dict[str, Any],
                          after: dict[str, Any]) -> None:
    """Record a change of the room's settings made through the API (only changed keys)."""
    old, new = audit.changed_values(before, after)
    if not new:
        return
    with state_of(request).db() as session:
        audit.record(session, actor.name, "settings.update", target="room (api)",
                     before=old, after=new, user_id=actor.user_id)
        session.commit()


def page(role: str) -> Callable[[Endpoint], Endpoint]:
    """Let only logged-in operators of at least ``role`` in; others go to the login page."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            actor = await session_actor(request)
            if actor is None:
                if wants_json(request) or request.url.path.startswith("/admin/api/"):
                    return json_error(401, "unauthenticated", "Perlu masuk sebagai operator.")
                target = quote(request.url.path, safe="/")
                return RedirectResponse(f"/admin/masuk?next={target}", status_code=303)
            if not actor.allows(role):
                return error_page(request, 403, "forbidden",
                                  "Peran Anda tidak mengizinkan halaman ini.")
            request.state.actor = actor
            try:
                return await endpoint(request)
            except Refused as exc:
                return refusal_page(request, exc)

        return guarded

    return wrap


def actor_of(request: Request) -> Actor:
    """The actor a ``page`` guard let in."""
    actor: Actor = request.state.actor
    return actor


def admin_render(request: Request, name: str, context: dict[str, Any],
                 status: int = 200) -> Response:
    """Render a console page with the menu for the actor's role."""
    actor: Actor | None = getattr(request.state, "actor", None)
    context.setdefault("actor", actor)
    context.setdefault("menu", [(path, label) for path, label, least in MENU
                                if actor is not None and actor.allows(least)])
    context.setdefault("here", request.url.path)
    context.setdefault("show", show_for(request))
    return render(request, name, context, status)


def show_for(request: Request) -> Show:
    """Codes and times as this request's page shows them (language, registration's zone)."""
    say = templates_for(request).env.filters["tr"]
    return Show(state_of(request).settings.tz, language_of(request), say)
