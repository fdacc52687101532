"""A running portal through a Redis failover: 503 with Retry-After while it moves, then service.

Two ways a primary dies under the portal (a uvicorn process): a Sentinel-managed
primary with one replica (the jobs there too), and one primary of a 3-primary
cluster with a replica each (the jobs on a plain Redis). While the replica is
promoted, joins answer 503 with Retry-After, never 500; afterwards the portal
serves again by itself and the places taken before the failure are still there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from redis.cluster import RedisCluster
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, upgrade
from portal.redis_clients import open_job_connection, open_sync
from tests.support.apps import make_settings
from tests.support.jobs import work_jobs
from tests.support.redis_servers import (
    RedisClusterProcesses,
    RedisProcess,
    RedisSentinelProcesses,
    redis_server_binary,
)
from tests.support.servers import LiveServer, live_env
from waitroom.keys import RoomKeys

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary")


@dataclass
class Outage:
    """What joins answered while a failover ran: (seconds since it began, status)."""

    answers: list[tuple[float, int]] = field(default_factory=list)
    without_retry_after: int = 0
    # /readyz's checks whenever it said unavailable.
    unready: list[dict[str, str]] = field(default_factory=list)

    @property
    def unavailable_seconds(self) -> float:
        """From the first refused join to the first served one after it."""
        refused = [at for at, status in self.answers if status != 201]
        if not refused:
            return 0.0
        served = [at for at, status in self.answers if status == 201 and at > refused[0]]
        return (served[0] if served else self.answers[-1][0]) - refused[0]


def joins_through(url: str, failover: Callable[[], object], *, settle: float = 20) -> Outage:
    """Join as a new browser (and ask /readyz) every 50 ms while ``failover`` runs, until
    joins succeed again."""
    outage = Outage()
    began = time.monotonic()
    done = threading.Event()

    def keep_joining() -> None:
        while not done.is_set():
            with httpx.Client(base_url=url, timeout=10) as browser:
                answer = browser.post("/api/v1/queue/join", json={})
                outage.answers.append((time.monotonic() - began, answer.status_code))
                if answer.status_code == 503 and not answer.headers.get("retry-after"):
                    outage.without_retry_after += 1
                ready = browser.get("/readyz")
                if ready.status_code != 200:
                    outage.unready.append(ready.json()["checks"])
            time.sleep(0.05)

    joiner = threading.Thread(target=keep_joining)
    joiner.start()
    try:
        failover()
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            recent = outage.answers[-3:]
            if len(recent) == 3 and all(status == 201 for _, status in recent) \
                    and any(status != 201 for _, status in outage.answers):
                break
            time.sleep(0.1)
    finally:
        done.set()
        joiner.join(timeout=30)
    return outage


def take_places(url: str, count: int) -> list[tuple[httpx.Client, str, str]]:
    """``count`` browsers join; each with its token and the state it was told."""
    places = []
    for _ in range(count):
        browser = httpx.Client(base_url=url, timeout=10)
        joined = browser.post("/api/v1/queue/join", json={})
        assert joined.status_code == 201, joined.text
        places.append((browser, joined.json()["token"], joined.json()["state"]))
    return places


def states_now(places: list[tuple[httpx.Client, str, str]]) -> list[str]:
    return [browser.get(f"/api/v1/queue/{token}").json()["state"]
            for browser, token, _ in places]


def migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'antrean.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def report(kind: str, outage: Outage, lost: int) -> None:
    refused = sum(1 for _, status in outage.answers if status != 201)
    print(f"\n{kind}: unavailable {outage.unavailable_seconds:.2f} s, {refused} of "
          f"{len(outage.answers)} joins refused, {lost} places lost")


def test_the_portal_rides_out_a_sentinel_failover(redis_client: redis.Redis,
                                                  tmp_path: Path) -> None:
    servers = RedisSentinelProcesses(tmp_path / "redis")
    database_url = migrated_sqlite(tmp_path)
    server = None
    try:
        # The room and the job queue both on the Sentinel-managed primary.
        server = LiveServer(live_env(servers.url, database_url, tmp_path,
                                     ANTREAN_MAX_ACTIVE="2"))
        places = take_places(server.url, 3)
        before = [state for _, _, state in places]
        assert before == ["admitted", "admitted", "waiting"]

        outage = joins_through(server.url, servers.kill_primary)

        statuses = {status for _, status in outage.answers}
        assert statuses <= {201, 503} and 503 in statuses, outage.answers
        assert outage.without_retry_after == 0
        after = states_now(places)
        report("sentinel", outage, sum(1 for s in after if s == "expired"))
        assert after == before
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["status"] == "ok", ready
        # The jobs follow the primary too: a code is queued and a worker sends it.
        sent = places[2][0].post("/api/v1/identity/code", json={"nik": "3601284811855133",
                                                                 "phone": "0895-7477-2415"})
        assert sent.status_code == 202, sent.text
        settings = make_settings(servers.url, database_url, tmp_path)
        job_redis, room_redis = open_job_connection(servers.url), open_sync(servers.url)
        try:
            assert job_redis.llen("rq:queue:antrean") == 1
            work_jobs(settings.notify, job_redis, room_redis)
            assert job_redis.llen("rq:queue:antrean") == 0
        finally:
            job_redis.close()
            room_redis.close()
        for browser, _, _ in places:
            browser.close()
    finally:
        if server is not None:
            server.stop()
        servers.stop()


def test_the_portal_rides_out_a_cluster_primary_dying(redis_client: redis.Redis, redis_url: str,
                                                      tmp_path: Path) -> None:
    cluster = RedisClusterProcesses(tmp_path / "cluster", replicas=1)
    database_url = migrated_sqlite(tmp_path)
    server = None
    try:
        server = LiveServer(live_env(cluster.url, database_url, tmp_path,
                                     ANTREAN_JOB_REDIS_URL=redis_url, ANTREAN_MAX_ACTIVE="2"))
        places = take_places(server.url, 3)
        before = [state for _, _, state in places]
        assert before == ["admitted", "admitted", "waiting"]
        # The primary holding the room's slot is the one that dies.
        with RedisCluster(host="127.0.0.1", port=cluster.port) as client:
            owner = client.get_node_from_key(RoomKeys().key("seq"))
            assert owner is not None
        room_primary = int(owner.port)

        outage = joins_through(server.url, lambda: cluster.fail_over(room_primary, kill=True))

        statuses = {status for _, status in outage.answers}
        assert statuses <= {201, 503} and 503 in statuses, outage.answers
        assert outage.without_retry_after == 0
        after = states_now(places)
        report("cluster", outage, sum(1 for s in after if s == "expired"))
        assert after == before
        # /readyz told the cluster's trouble apart from the job queue's good health.
        assert any(checks["redis"] != "ok" and checks["job_queue"] == "ok"
                   for checks in outage.unready), outage.unready
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["status"] == "ok", ready
        for browser, _, _ in places:
            browser.close()
    finally:
        if server is not None:
            server.stop()
        cluster.stop()


def test_writes_reaching_a_replica_answer_503(tmp_path: Path) -> None:
    # A primary just demoted (or a URL pointing at a replica) answers READONLY.
    primary = RedisProcess(tmp_path / "primary")
    replica = RedisProcess(tmp_path / "replica", "--replicaof", "127.0.0.1", str(primary.port))
    try:
        settings = make_settings(replica.url, migrated_sqlite(tmp_path), tmp_path)
        with TestClient(create_app(settings)) as client:
            joined = client.post("/api/v1/queue/join", json={})
            page = client.post("/antre", data={})
        assert joined.status_code == 503 and joined.headers["retry-after"]
        assert joined.json()["error"]["code"] == "unavailable"
        assert page.status_code in (403, 503)  # the form's CSRF check may come first
    finally:
        replica.stop()
        primary.stop()
