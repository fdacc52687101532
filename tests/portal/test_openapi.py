"""The public API against its own OpenAPI description: generated requests, no server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks

from portal.db import create_db_engine, upgrade
from portal.openapi import DOCUMENT

schema = schemathesis.openapi.from_dict(DOCUMENT)
load_all_checks()
ALL_CHECKS = CHECK_REGISTRY.get_all()
# Every check schemathesis has, positive_data_acceptance included: what the schema
# allows is accepted (a settings PATCH that the settings in force make contradictory is
# a 409 conflict, which the check allows), what it forbids is refused
# (negative_data_rejection), and a 405 lists every method (unsupported_method).
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
        checks=ALL_CHECKS)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"code", "message", "fields"}, body
