"""The public API against its own OpenAPI description: generated requests, no server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks

from portal.db import create_db_engine, upgrade
from portal.openapi import DOCUMENT

schema = schemathesis.openapi.from_dict(DOCUMENT)
load_all_checks()
ALL_CHECKS = CHECK_REGISTRY.get_all()
# Every check schemathesis has, positive_data_acceptance too, but on the operations
# where the server rightly refuses with 422 what JSON Schema cannot rule out: a
# settings PATCH with idle_timeout_seconds above session_ttl_seconds (a rule across
# fields), and e-mail addresses in special-use domains (.arpa, .test, .local: never
# deliverable) on a join or a booking. Schema-violating requests must be refused
# everywhere (negative_data_rejection), 405 must list every method (unsupported_method).
CROSS_FIELD = {("PATCH", "/api/v1/admin/settings"), ("POST", "/api/v1/queue/join"),
               ("POST", "/api/v1/bookings")}
CHECKS = [check for check in ALL_CHECKS if check is not checks.positive_data_acceptance]
ADMIN_TOKEN = "openapi-test-operator-token-0123456789"


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str):
    from tests.support.servers import LiveServer, live_env

    tmp = tmp_path_factory.mktemp("openapi")
    url = f"sqlite:///{tmp / 'antrean.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    server = LiveServer(live_env(redis_url, url, tmp, ANTREAN_ADMIN_TOKEN=ADMIN_TOKEN))
    yield server
    server.stop()


def test_the_served_description_is_this_one(api_server) -> None:
    import httpx

    assert httpx.get(api_server.url + "/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_request_makes_the_api_fail(case, api_server) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if "admin" in case.path else None
    response = case.call_and_validate(
        base_url=api_server.url, headers=headers, timeout=10,
        checks=CHECKS if (case.method.upper(), case.path) in CROSS_FIELD else ALL_CHECKS)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"code", "message", "fields"}, body
