"""/metrics by Prometheus' conventions: request histograms by route template, in flight."""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path
from typing import Any

import httpx
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, Histogram
from sqlalchemy import event
from starlette.testclient import TestClient

from portal.app import create_app
from portal.logs import ROUTE_KEY
from portal.settings import Settings
from portal.telemetry import LATENCY_BUCKETS, RequestTally
from tests.support.metrics import families, sample_names, scrape, value

NIK = "3601284811855133"
LOCAL = ("127.0.0.1", 40000)  # the default monitoring range: loopback


def test_the_exposition_follows_prometheus_naming(settings: Settings) -> None:
    with TestClient(create_app(settings), client=LOCAL) as client:
        before = client.get("/metrics").text  # the counters are this process's, over tests
        joined = client.post("/api/v1/queue/join", json={"nik": NIK})
        token = joined.json()["token"]
        assert client.get(f"/api/v1/queue/{token}").status_code == 200
        assert client.get("/tidak-ada/3601284811855133").status_code == 404
        text = client.get("/metrics").text
    types = families(text)
    names = sample_names(text)
    samples = scrape(text)
    for family, kind in types.items():
        if kind == "counter":
            assert all(s.name in (f"{family}_total", f"{family}_created")
                       for s in samples[family]), family
    assert types["antrean_http_request_duration_seconds"] == "histogram"
    for suffix in ("_bucket", "_count", "_sum"):
        assert f"antrean_http_request_duration_seconds{suffix}" in names
    assert types["antrean_http_requests_in_flight"] == "gauge"
    assert types["antrean_admissions"] == "counter"
    assert "process_resident_memory_bytes" in names  # the default process collector
    for family, kind in types.items():
        if kind == "gauge":
            assert all("quantile" not in s.labels for s in samples[family]), family
    routes = {s.labels["route"] for s in samples["antrean_http_request_duration_seconds"]}
    assert {"/api/v1/queue/join", "/api/v1/queue/{token}", "(unmatched)"} <= routes
    assert token not in text and NIK not in text
    for labels in ({"method": "GET", "route": "/api/v1/queue/{token}", "status": "200"},
                   {"method": "POST", "route": "/api/v1/queue/join", "status": "201"}):
        counted = "antrean_http_request_duration_seconds_count"
        assert value(text, counted, **labels) - value(before, counted, **labels) == 1, labels
    # the scrape that answers is itself in flight
    assert value(text, "antrean_http_requests_in_flight") == 1


def test_a_scrape_runs_no_sql(settings: Settings) -> None:
    app = create_app(settings)
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = app.state.portal.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        with TestClient(app, client=LOCAL) as client:
            for _ in range(3):
                assert client.get("/metrics").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert statements == []


def test_workers_share_their_figures_and_a_held_request_is_in_flight(
        live_server_factory: Any, database_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    server = live_server_factory(database_url, workers=2,
                                 PROMETHEUS_MULTIPROC_DIR=str(directory))
    host, port = server.url.removeprefix("http://").split(":")
    held = socket.create_connection((host, int(port)), timeout=5)
    try:
        # headers and half the promised body: the join waits for the rest
        held.sendall(b"POST /api/v1/queue/join HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{")
        for _ in range(6):
            assert httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
        text = ""
        # until uvicorn has handed the held request to a worker and each worker has
        # handed its figures over (every half second)
        for _ in range(50):
            text = httpx.get(f"{server.url}/metrics", timeout=5).text
            if value(text, "antrean_http_requests_in_flight") == 2 and value(
                    text, "antrean_http_request_duration_seconds_count", route="/readyz") >= 6:
                break
            time.sleep(0.1)
    finally:
        held.close()
    assert value(text, "antrean_http_requests_in_flight") == 2  # the held one and the scrape
    # six readiness checks, whichever of the two workers answered each
    assert value(text, "antrean_http_request_duration_seconds_count", route="/readyz") >= 6
    assert list(directory.iterdir())


_ROUTES = st.sampled_from([("GET", "/api/v1/queue/{token}", 200),
                           ("POST", "/api/v1/queue/join", 201), ("GET", "/antre", 503),
                           ("BREW", "/", 0)])
# bounds themselves (a duration on a bound is in that bucket), between them and past the last
_SECONDS = st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(0, 30, allow_nan=False))


@settings_(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_ROUTES, _SECONDS), max_size=40), st.integers(0, 5))
def test_the_tally_hands_over_what_prometheus_client_would_have_counted(
        requests: list[tuple[tuple[str, str, int], float]], in_flight: int) -> None:
    def metrics() -> tuple[CollectorRegistry, Histogram, Gauge]:
        registry = CollectorRegistry()
        duration = Histogram("d_seconds", "d", ["method", "route", "status"],
                             buckets=LATENCY_BUCKETS, registry=registry)
        return registry, duration, Gauge("f", "f", registry=registry)

    direct, duration, _gauge = metrics()
    for (method, route, status), seconds in requests:
        duration.labels(method=method if method != "BREW" else "OTHER", route=route,
                        status=str(status or 500)).observe(seconds)
    tallied, duration, gauge = metrics()
    tally = RequestTally(duration, gauge)
    half = len(requests) // 2  # handed over in two turns, as the upkeep loop does
    for turn in (requests[:half], requests[half:]):
        for (method, route, status), seconds in turn:
            tally.observe({"method": method, ROUTE_KEY: route, "endpoint": None}, status,
                          seconds)
        tally.hand_over()
    tally.in_flight = in_flight
    tally.hand_over()

    def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[Any, ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in registry.collect() for s in family.samples
                if not s.name.endswith("_created")}

    want, got = samples(direct), samples(tallied)
    assert got.pop(("f", ())) == in_flight
    want.pop(("f", ()))
    assert want.keys() == got.keys()
    for key, expected in want.items():
        assert math.isclose(got[key], expected, rel_tol=1e-9, abs_tol=1e-9), key
