"""The public API against its own OpenAPI description: generated requests, no server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from portal.db import create_db_engine, upgrade
from portal.openapi import DOCUMENT

schema = schemathesis.openapi.from_dict(DOCUMENT)
# What every answer must honour: no server error, a documented status and media
# type, and a body of the documented shape. Left out: the strictness checks
# (lenient input such as 5.0 for an integer is accepted on purpose, a valid-looking
# NIK may still be refused with 422) and Allow on 405, which Starlette fills from
# the first route of a path only.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]
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
        base_url=api_server.url, headers=headers, timeout=10, checks=CHECKS)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"code", "message", "fields"}, body
