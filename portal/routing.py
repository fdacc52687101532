"""Routes and the methods a path accepts: every 405 names them all.

Starlette answers 405 from the first Route whose path matched, with only that
Route's methods in ``Allow``; a path served by several Routes (a page's GET in
one, its form's POST in another) would hide the others' methods.
``allowed_methods`` gathers them from every route that matches the path, and
``portal.errors`` puts them in each 405's ``Allow``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

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


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """Every method some route (mounted ones included) serves at the request's path."""
    # The router has changed the request's scope on its way (a Mount's root path,
    # the matched route's parameters): match the bare path again.
    at_path: Scope = {"type": "http", "method": scope["method"], "path": scope["path"],
                      "root_path": scope.get("app_root_path", scope.get("root_path", ""))}
    return _methods(routes, at_path)


def _methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    methods: set[str] = set()
    for candidate in routes:
        match, child_scope = candidate.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(candidate, Route):
            methods |= candidate.methods or set()
        else:  # a Mount (or Host): the routes inside it, if it has any
            methods |= _methods(getattr(candidate, "routes", None) or (),
                                {**scope, **child_scope})
    return methods
