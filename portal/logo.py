"""The agency's logo at ``/logo``: the file the operator set, or the portal's own mark."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from portal.state import state_of


async def logo(request: Request) -> Response:
    agency = state_of(request).settings.agency
    # A day: the logo changes with a deployment, and slow phones fetch it once.
    return FileResponse(agency.logo, media_type=agency.logo_type,
                        headers={"Cache-Control": "public, max-age=86400"})


routes = [Route("/logo", logo, methods=["GET", "HEAD"])]
