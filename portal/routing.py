"""One route per path: several methods served by one Route, so a 405 names them all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def route(path: str, endpoints: Mapping[str, Endpoint], *, name: str | None = None) -> Route:
    """A Route answering each method with its endpoint (HEAD with GET's).

    Starlette answers 405 per Route, with the methods of that Route only in
    ``Allow``; a path split over several Routes would hide the others' methods.
    """
    by_method = {method.upper(): endpoint for method, endpoint in endpoints.items()}
    if "GET" in by_method:
        by_method.setdefault("HEAD", by_method["GET"])

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method](request)

    return Route(path, dispatch, methods=list(by_method), name=name)
