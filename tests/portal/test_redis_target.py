"""Redis URLs: one server, a cluster or a Sentinel-managed primary, and what is refused."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.errors import EXCEPTION_HANDLERS
from portal.redis_target import CLUSTER, SENTINEL, SINGLE, job_redis_target, parse_redis_url
from portal.settings import Settings, SettingsError
from portal.visitor.place import redis_down


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache:6380/2",
                                 "unix:///run/redis.sock?db=1"])
def test_one_server_is_left_to_redis_py(url: str) -> None:
    target = parse_redis_url(url)
    assert (target.kind, target.url) == (SINGLE, url)
    assert target.tls == url.startswith("rediss")


def test_a_cluster_names_any_of_its_nodes() -> None:
    target = parse_redis_url("rediss+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2/")
    assert target.kind == CLUSTER and target.cluster and target.tls
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379))
    assert (target.username, target.password) == ("app", "s@cret")
    assert "s@cret" not in repr(target) and "cret" not in repr(target)


def test_a_sentinel_url_names_the_service_and_database() -> None:
    target = parse_redis_url(
        "redis+sentinel://:primary-pw@s1:26379,s2:26380/antrean/3?sentinel_password=s-pw")
    assert target.kind == SENTINEL and not target.cluster
    assert target.nodes == (("s1", 26379), ("s2", 26380))
    assert (target.service, target.db) == ("antrean", 3)
    assert (target.password, target.sentinel_password) == ("primary-pw", "s-pw")
    assert parse_redis_url("redis+sentinel://s1/antrean").nodes == (("s1", 26379),)


@pytest.mark.parametrize(("url", "message"), [
    ("http://cache:6379/0", "must start with redis://"),
    ("cache:6379", "must start with redis://"),
    ("redis+cluster:///", "at least one host:port"),
    ("redis+cluster://a:7000/3", "only database 0"),
    ("redis+cluster://a:port/", "is not host:port"),
    ("redis+sentinel://s1:26379/", "name the Sentinel service"),
    ("redis+sentinel://s1:26379/antrean/zero", "must be a number"),
])
def test_urls_no_client_could_use_are_refused(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_redis_url(url)


def test_the_job_queue_refuses_a_cluster() -> None:
    assert job_redis_target("redis+sentinel://s1/antrean/0").kind == SENTINEL
    with pytest.raises(SettingsError, match="ANTREAN_JOB_REDIS_URL names a Redis Cluster"):
        job_redis_target("redis+cluster://a:7000/")


def test_settings_read_both_urls(tmp_path) -> None:
    base = {"ANTREAN_ENV": "test", "ANTREAN_VAR_DIR": str(tmp_path)}
    plain = Settings.from_env({**base, "ANTREAN_REDIS_URL": "redis://cache/0"})
    assert plain.job_url == "redis://cache/0" == plain.notify.job_url
    split = Settings.from_env({**base, "ANTREAN_REDIS_URL": "redis+cluster://a:7000/",
                               "ANTREAN_JOB_REDIS_URL": "redis://jobs/0"})
    assert (split.redis_url, split.job_url) == ("redis+cluster://a:7000/", "redis://jobs/0")
    assert split.notify.job_url == "redis://jobs/0"
    with pytest.raises(SettingsError, match="ANTREAN_REDIS_URL must start with"):
        Settings.from_env({**base, "ANTREAN_REDIS_URL": "cache:6379"})


@pytest.mark.parametrize("name", ["ClusterDownError", "MasterDownError", "TryAgainError",
                                  "ReadOnlyError", "ClusterError", "SlotNotCoveredError",
                                  "MasterNotFoundError", "BusyLoadingError"])
def test_a_failover_answers_503_with_retry_after(name: str) -> None:
    import redis.exceptions
    import redis.sentinel

    error = getattr(redis.exceptions, name, None) or getattr(redis.sentinel, name)

    async def failing(request: Request) -> None:
        raise error("the primary is moving")

    app = Starlette(routes=[Route("/api/x", failing)], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        answer = client.get("/api/x")
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert answer.json()["error"]["code"] == "unavailable"


def test_a_cross_slot_transaction_is_a_bug_not_an_outage() -> None:
    from redis.exceptions import CrossSlotTransactionError

    async def failing(request: Request) -> None:
        raise CrossSlotTransactionError("keys in different slots")

    app = Starlette(routes=[Route("/api/x", failing)], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        assert client.get("/api/x").status_code == 500


def test_a_failover_reply_inside_a_script_answers_503_and_other_errors_500() -> None:
    from redis.exceptions import ResponseError

    async def moving(request: Request) -> None:
        raise ResponseError("Error running script (call to f_1): @user_script:3: "
                            "@user_script: 3: -READONLY You can't write against a read "
                            "only replica.")

    async def broken(request: Request) -> None:
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind")

    app = Starlette(routes=[Route("/api/moving", moving), Route("/api/broken", broken)],
                    exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/moving").status_code == 503
        assert client.get("/api/broken").status_code == 500


def _closed_transport_error(redis_url: str) -> BaseException:
    """What redis-py raises on uvloop when the server closed the connection it writes on."""
    import uvloop
    from redis.asyncio import Redis

    async def write_on_a_closed_connection() -> BaseException:
        client = Redis.from_url(redis_url, single_connection_client=True)
        try:
            await client.ping()
            connection = client.connection
            assert connection is not None and connection._writer is not None
            # The node went away (a failover killed it): uvloop closed the transport.
            connection._writer.transport.close()
            await asyncio.sleep(0)
            try:
                await client.get("anything")
            except BaseException as exc:  # noqa: BLE001 - the error itself is the result
                return exc
            raise AssertionError("the write on a closed transport went through")
        finally:
            await client.aclose()

    return uvloop.run(write_on_a_closed_connection())


def test_a_write_on_a_connection_a_failover_closed_answers_503(redis_url: str) -> None:
    error = _closed_transport_error(redis_url)
    assert isinstance(error, RuntimeError), repr(error)  # as redis-py lets it through

    async def moving(request: Request) -> None:
        raise error

    async def broken(request: Request) -> None:
        raise RuntimeError("something else entirely")

    app = Starlette(routes=[Route("/api/x", moving), Route("/api/y", broken)],
                    exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/x")
        other = client.get("/api/y")
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert answer.json()["error"]["code"] == "unavailable"
    assert other.status_code == 500
    # and where Redis being down decides (fail open, a place freed after a submission),
    # it counts as Redis being down, while any other RuntimeError is a fault
    assert redis_down(error)
    assert not redis_down(RuntimeError("something else entirely"))
