"""Operators tune the room live through the settings API."""

from __future__ import annotations

import time
from dataclasses import fields, replace
from pathlib import Path

import pytest
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal.app import create_app
from portal.openapi import DOCUMENT
from tests.support.apps import make_settings
from waitroom.config import BOUNDS, RoomConfig

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


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # each value within its range; with the settings in force (TTL 3600 s) they clash
        ({"idle_timeout_seconds": 3601}, "idle_timeout_seconds"),
        ({"session_ttl_seconds": 600, "idle_timeout_seconds": 601}, "idle_timeout_seconds"),
        ({"opens_at": 2_000_000_000, "closes_at": 2_000_000_000}, "closes_at"),
    ],
)
def test_settings_that_contradict_each_other_are_a_conflict(admin_settings, body,
                                                             field) -> None:
    with TestClient(create_app(admin_settings)) as client:
        before = client.get("/api/v1/admin/settings", headers=AUTH).json()
        response = client.patch("/api/v1/admin/settings", headers=AUTH, json=body)
        after = client.get("/api/v1/admin/settings", headers=AUTH).json()
        mixed = client.patch("/api/v1/admin/settings", headers=AUTH,
                             json={**body, "max_active": 0})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflicting_settings" and field in error["fields"]
    assert after == before
    # a value out of its own range as well: the request itself is invalid
    assert mixed.status_code == 422
    assert set(mixed.json()["error"]["fields"]) == {"max_active", field}


# Every live setting's range as operators are told it: (lowest, highest, a step past).
RANGES = {
    "max_active": (1, 100_000, 1),
    "admit_per_minute": (1, 1_000_000, 1),
    "session_ttl_seconds": (60, 86_400, 1),
    "idle_timeout_seconds": (30, 86_400, 1),
    "claim_window_seconds": (10, 3_600, 1),
    "booked_share": (0, 1, 0.01),
    "stale_after_seconds": (0, 86_400, 1),
    "return_grace_seconds": (0, 86_400, 1),
    "expected_session_minutes": (0.1, 240, 0.01),
    "opens_at": (0, 2_051_222_400, 1),  # up to 2035-01-01 00:00 UTC
    "closes_at": (0, 2_051_222_400, 1),
}
# What a value at an edge needs beside it to be valid (the idle timeout fits in the TTL).
COMPANIONS: dict[tuple[str, float], dict[str, int]] = {
    ("session_ttl_seconds", 60): {"idle_timeout_seconds": 30},
    ("idle_timeout_seconds", 86_400): {"session_ttl_seconds": 86_400},
}


def shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def test_every_numeric_setting_has_a_range() -> None:
    numeric = {f.name for f in fields(RoomConfig) if f.type not in ("bool", bool)}
    assert set(RANGES) == numeric == set(BOUNDS)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_each_setting_is_accepted_at_its_edges(admin_settings, name: str) -> None:
    low, high, _ = RANGES[name]
    with TestClient(create_app(admin_settings)) as client:
        for value in (high, low):
            body = {**COMPANIONS.get((name, value), {}), name: value}
            response = client.patch("/api/v1/admin/settings", headers=AUTH, json=body)
            assert response.status_code == 200, response.text
            assert response.json()[name] == value


@pytest.mark.parametrize("name", sorted(RANGES))
def test_each_setting_is_refused_just_past_its_edges(admin_settings, name: str) -> None:
    low, high, step = RANGES[name]
    with TestClient(create_app(admin_settings)) as client:
        before = client.get("/api/v1/admin/settings", headers=AUTH).json()
        for value in (high + step, low - step):
            body = {**COMPANIONS.get((name, high), {}), name: value}
            response = client.patch("/api/v1/admin/settings", headers=AUTH, json=body)
            assert response.status_code == 422, (value, response.text)
            error = response.json()["error"]
            assert list(error["fields"]) == [name]
            if name not in ("opens_at", "closes_at"):  # times name the latest one instead
                assert f"antara {shown(low)} dan {shown(high)}" in error["fields"][name]
            else:
                assert "2035-01-01" in error["fields"][name]
        assert client.get("/api/v1/admin/settings", headers=AUTH).json() == before


def test_the_fuzzers_session_lifetime_is_refused_in_either_language(admin_settings) -> None:
    with TestClient(create_app(admin_settings)) as client:
        indonesian = client.patch("/api/v1/admin/settings", headers=AUTH,
                                  json={"session_ttl_seconds": 3_407_324})
        english = client.patch("/api/v1/admin/settings?lang=en", headers=AUTH,
                               json={"session_ttl_seconds": 3_407_324, "max_active": 0})
    assert indonesian.status_code == english.status_code == 422
    assert indonesian.json()["error"] == {
        "code": "invalid_fields", "message": "Ada pengaturan yang tidak valid.",
        "fields": {"session_ttl_seconds": "Umur sesi antara 60 dan 86400 detik."}}
    assert english.json()["error"] == {
        "code": "invalid_fields", "message": "Some settings are not valid.",
        "fields": {"session_ttl_seconds": "Session lifetime must be between 60 and 86400 "
                                          "seconds.",
                   "max_active": "The active-user cap must be between 1 and 100000."}}


def test_the_described_schema_states_the_same_ranges() -> None:
    properties = DOCUMENT["components"]["schemas"]["Settings"]["properties"]
    for name, (low, high, _) in RANGES.items():
        assert (properties[name]["minimum"], properties[name]["maximum"]) == (low, high)
