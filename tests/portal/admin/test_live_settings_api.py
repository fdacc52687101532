"""Operators tune the room live through the settings API."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal.app import create_app
from tests.support.apps import make_settings

TOKEN = "operator-token-0123456789abcdef-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def admin_settings(redis_client, redis_url: str, tmp_path: Path):
    base = make_settings(redis_url, f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path,
                         max_active=5)
    return replace(base, admin_token=Secret(TOKEN))


def test_settings_need_a_bearer_token(admin_settings) -> None:
    with TestClient(create_app(admin_settings)) as client:
        missing = client.get("/api/v1/admin/settings")
        wrong = client.patch("/api/v1/admin/settings", json={"max_active": 9},
                             headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "forbidden"


def test_token_guesses_are_limited_per_address(admin_settings) -> None:
    with TestClient(create_app(admin_settings)) as client:
        guesses = [client.get("/api/v1/admin/settings",
                              headers={"Authorization": f"Bearer guess-{n:040d}"}).status_code
                   for n in range(20)]
        # Past the limit, not even the right token is checked from this address.
        late = client.get("/api/v1/admin/settings", headers=AUTH)
    with TestClient(create_app(admin_settings), client=("10.0.0.9", 50000)) as elsewhere:
        fine = elsewhere.get("/api/v1/admin/settings", headers=AUTH)
    assert guesses == [403] * 20
    assert late.status_code == 403
    assert fine.status_code == 200


def test_a_change_reaches_every_process_within_a_second(admin_settings) -> None:
    with TestClient(create_app(admin_settings)) as operator, \
            TestClient(create_app(admin_settings)) as visitor:
        assert visitor.get("/api/v1/queue/stats").json()["max_active"] == 5
        assert operator.get("/api/v1/admin/settings", headers=AUTH).json()["max_active"] == 5
        changed = operator.patch("/api/v1/admin/settings", headers=AUTH,
                                 json={"max_active": 42, "paused": True})
        assert changed.status_code == 200 and changed.json()["max_active"] == 42
        changed_at = time.monotonic()
        while visitor.get("/api/v1/queue/stats").json()["max_active"] != 42:
            assert time.monotonic() - changed_at < 1.0
            time.sleep(0.05)
        assert visitor.get("/api/v1/queue/stats").json()["paused"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_active": 0}, "max_active"),
        ({"admit_per_minute": -5}, "admit_per_minute"),
        ({"booked_share": 1.5}, "booked_share"),
        ({"paused": "yes"}, "paused"),
        ({"max_active": "many"}, "max_active"),
        ({"warp_speed": 9}, "warp_speed"),
    ],
)
def test_bad_settings_are_refused_with_field_messages(admin_settings, body, field) -> None:
    with TestClient(create_app(admin_settings)) as client:
        response = client.patch("/api/v1/admin/settings", headers=AUTH, json=body)
        after = client.get("/api/v1/admin/settings", headers=AUTH).json()
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]
    assert after["max_active"] == 5  # nothing changed
