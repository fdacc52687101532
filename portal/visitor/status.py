"""The public transparency page: how the queue moves, and the pre-queue draw's seed."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.admin.banner import public_banner
from portal.admin.dashboard import live_figures
from portal.state import state_of
from portal.web import render

# Only aggregate numbers leave through this page: nothing about any one visitor.
PUBLIC = ("waiting", "active", "cap", "paused", "admitted_today", "admitted_per_minute",
          "eta_new_s", "wait_median_s", "wait_p90_s")


async def _public(request: Request) -> dict[str, object]:
    figures = asdict(await live_figures(request))
    body: dict[str, object] = {name: figures[name] for name in PUBLIC}
    body["prequeue_seed"] = await state_of(request).room.published_seed()
    return body


async def status_page(request: Request) -> Response:
    body = await _public(request)
    return render(request, "admin/status.html",
                  {"figures": body, "banner": await public_banner(state_of(request).room)})


async def status_json(request: Request) -> Response:
    return JSONResponse(await _public(request))


routes = [
    Route("/status", status_page, methods=["GET"]),
    Route("/api/v1/status", status_json, methods=["GET"]),
]
