"""Request ids and logs: a screenshot of an error page leads to the lines of its request."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.environment import Environment
from portal.logs import configure_logging, route_of
from portal.settings import Settings

BALANCER = ("10.0.0.2", 40000)
VISITOR = ("203.0.113.9", 40000)


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Our log handler in JSON mode, writing into the test's captured stderr."""
    configure_logging("json", "INFO")
    yield capsys
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_antrean", False):
            root.removeHandler(handler)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()
            if line.startswith("{")]


def test_every_answer_carries_its_own_request_id(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        joined = client.post("/api/v1/queue/join", json={})  # the hot path
        status = client.get(f"/api/v1/queue/{joined.json()['token']}")
        page = client.get("/")
    ids = [r.headers["x-request-id"] for r in (joined, status, page)]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", i) for i in ids)


def test_an_id_is_kept_only_from_a_trusted_proxy(settings: Settings) -> None:
    trusting = replace(settings, trusted_proxies=Environment(
        {"ANTREAN_TRUSTED_PROXIES": "10.0.0.0/8"}).networks("TRUSTED_PROXIES", ()))
    app = create_app(trusting)
    with TestClient(app, client=BALANCER) as balanced:
        kept = balanced.get("/", headers={"x-request-id": "0A1B2C3D:9F2E_0001"})
        malformed = balanced.get("/", headers={"x-request-id": "bad id; drop"})
    with TestClient(app, client=VISITOR) as direct:
        forged = direct.get("/", headers={"x-request-id": "0A1B2C3D:9F2E_0001"})
    assert kept.headers["x-request-id"] == "0A1B2C3D:9F2E_0001"
    assert malformed.headers["x-request-id"] != "bad id"
    assert forged.headers["x-request-id"] != "0A1B2C3D:9F2E_0001"


@pytest.mark.parametrize(("lang", "message", "label"), [
    ("id", "Halaman tidak ditemukan.", "Kode permintaan"),
    ("en", "Page not found.", "Request code"),
])
def test_the_error_page_shows_the_request_id_in_the_visitors_language(
        settings: Settings, lang: str, message: str, label: str) -> None:
    with TestClient(create_app(settings)) as client:
        missing = client.get(f"/tidak-ada?lang={lang}")
    assert missing.status_code == 404
    assert message in missing.text and label in missing.text
    shown = re.search(r'<code id="request-id">([^<]+)</code>', missing.text)
    assert shown and shown.group(1) == missing.headers["x-request-id"]


def test_the_access_log_names_routes_never_tokens_or_queries(
        settings: Settings, json_logs: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(replace(settings, access_log=True))) as client:
        token = client.post("/api/v1/queue/join", json={}).json()["token"]
        polled = client.get(f"/api/v1/queue/{token}?nik=3601284811850001")
        page = client.get(f"/antre/{token}")
    entries = [e for e in lines(json_logs) if e["logger"] == "antrean.access"]
    text = json.dumps(entries)
    assert token not in text and "3601284811850001" not in text and "nik=" not in text
    by_id = {e["request_id"]: e for e in entries}
    assert by_id[polled.headers["x-request-id"]]["route"] in ("/api/v1/queue/{token}",
                                                             "/api/v1/queue/…")
    assert by_id[polled.headers["x-request-id"]]["status"] == 200
    assert by_id[page.headers["x-request-id"]]["route"] in ("/antre/{token}", "/antre/…")
    assert all(e["method"] in ("GET", "POST") and float(str(e["duration_ms"])) >= 0
               for e in entries)


def test_no_access_log_unless_asked(settings: Settings,
                                    json_logs: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(settings)) as client:
        client.get("/")
    assert not [e for e in lines(json_logs) if e["logger"] == "antrean.access"]


def test_a_log_line_of_a_request_carries_its_id(settings: Settings,
                                                json_logs: pytest.CaptureFixture[str]) -> None:
    # Redis is not there: the join answers 503 and logs one line, with the request's id.
    gone = replace(settings, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(gone)) as client:
        answer = client.post("/api/v1/queue/join", json={})
    warnings = [e for e in lines(json_logs) if e["level"] == "WARNING"]
    assert answer.status_code == 503
    assert answer.headers["x-request-id"] in {e["request_id"] for e in warnings}


def test_route_of_hides_what_a_path_may_carry() -> None:
    assert route_of({"path": "/booking/BK-7Q2M9X", "path_params": {"code": "BK-7Q2M9X"}}) \
        == "/booking/{code}"
    assert route_of({"path": "/api/v1/queue/v1.123456.abcdefghijklmnopqrstuvwxyz"}) \
        == "/api/v1/queue/…"
    assert route_of({"path": "/x/3601284811850001"}) == "/x/…"
    assert route_of({"path": "/admin/kalender"}) == "/admin/kalender"
