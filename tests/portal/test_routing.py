"""Every 405 names every method its path accepts, however many routes serve the path."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from starlette.routing import BaseRoute, Mount, Route, compile_path
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from portal.app import create_app
from tests.support.apps import make_settings

SAMPLES = {None: "zq9", "str": "zq9", "int": "7", "float": "1.5", "path": "zq9/zq9",
           "uuid": "0b0e6c1e-9f1d-4c3a-8a55-5f0e3c2d1b7a"}
METHODS = ("PATCH", "PUT", "DELETE", "POST", "GET")


def every_route(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(full path template, methods) of each route, mounted ones included."""
    for route in routes:
        if isinstance(route, Route):
            yield prefix + route.path, set(route.methods or ())
        elif isinstance(route, Mount) and route.routes:
            yield from every_route(route.routes, prefix + route.path)
        elif isinstance(route, Mount):
            assert isinstance(route.app, StaticFiles), route
            yield prefix + route.path + "/{path:path}", {"GET", "HEAD"}
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")


def concrete(template: str) -> str:
    """A path the template matches, its parameters filled with sample values."""
    return re.sub(r"\{\w+(?::(\w+))?\}", lambda found: SAMPLES.get(found.group(1), "zq9"),
                  template)


@pytest.fixture
def client(redis_url: str, migrated_sqlite: Path, tmp_path: Path) -> Iterator[TestClient]:
    shutil.copyfile(migrated_sqlite, tmp_path / "antrean.db")
    app = create_app(make_settings(redis_url, f"sqlite:///{tmp_path / 'antrean.db'}", tmp_path))
    with TestClient(app) as client:
        yield client


def test_every_405_allows_every_method_of_its_path(client: TestClient) -> None:
    routes = list(every_route(client.app.routes))  # type: ignore[attr-defined]
    compiled = [(compile_path(template)[0], methods) for template, methods in routes]
    paths = {concrete(template) for template, _ in routes}
    split = 0
    for path in sorted(paths):
        matching = [methods for regex, methods in compiled if regex.match(path)]
        expected = set().union(*matching)
        split += len(matching) > 1
        method = next(method for method in METHODS if method not in expected)
        response = client.request(method, path)
        assert response.status_code == 405, (method, path, response.status_code)
        allowed = {name.strip() for name in response.headers["allow"].split(",")}
        assert allowed == expected, (method, path)
    assert split >= 10  # the pages whose GET and POST are separate routes among them


@pytest.mark.parametrize(("method", "path", "allowed"), [
    # the queue API's own names are not tokens: no status poll hides behind them
    ("GET", "/api/v1/queue/join", "POST"),
    ("POST", "/api/v1/queue/board", "GET, HEAD"),
    # a calendar file is not a booking to cancel
    ("DELETE", "/api/v1/bookings/K7M2-9QXA.ics", "GET, HEAD"),
])
def test_a_path_of_its_own_is_not_a_parameter_of_another(client: TestClient, method: str,
                                                          path: str, allowed: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"
