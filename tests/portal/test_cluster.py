"""The portal on a 3-primary Redis Cluster, its job queue on a separate plain Redis.

The room's keys, the console's sessions, the identity codes and the rate buckets
live on the cluster; RQ's queue and workers on ANTREAN_JOB_REDIS_URL, since RQ
cannot run on a cluster. A cluster room URL without a job URL does not start.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory, upgrade
from portal.keys import PortalKeys
from portal.notify.models import SENT, Notification
from portal.notify.ratelimit import ChannelRateLimiter
from portal.redis_clients import open_sync
from portal.settings import Settings, SettingsError
from tests.support import ROOT
from tests.support.admin import add_user, csrf_of, generated_roster, log_in, post_form
from tests.support.apps import make_settings
from tests.support.form import FILES, VALID, csrf, enter_form, hidden
from tests.support.jobs import work_jobs
from tests.support.live_settings import SETTINGS_FORM
from tests.support.redis_servers import RedisClusterProcesses
from waitroom.keys import RoomKeys


@pytest.fixture
def cluster_settings(empty_cluster: RedisClusterProcesses, redis_client: redis.Redis,
                     redis_url: str, tmp_path: Path) -> Settings:
    database_url = f"sqlite:///{tmp_path / 'antrean.db'}"
    engine = create_db_engine(database_url)
    upgrade(engine)
    engine.dispose()
    return make_settings(empty_cluster.url, database_url, tmp_path, job_redis_url=redis_url,
                         max_active=2)


def cluster_keys(cluster: RedisClusterProcesses, pattern: str) -> list[bytes | str]:
    """Keys matching ``pattern`` on every primary (KEYS asks each node for its own)."""
    client = RedisCluster(host="127.0.0.1", port=cluster.port)
    try:
        return list(client.keys(pattern, target_nodes=RedisCluster.PRIMARIES))
    finally:
        client.close()


def test_a_visitor_gets_from_the_queue_to_a_receipt_on_a_cluster(
    cluster_settings: Settings, empty_cluster: RedisClusterProcesses, redis_client: redis.Redis
) -> None:
    with TestClient(create_app(cluster_settings)) as client:
        form = enter_form(client)  # proves the NIK with a one-time code first
        saved = client.post("/formulir/draf", data={"csrf_token": csrf(form), "nama": "Dian S."})
        assert saved.status_code == 200, saved.text
        done = client.post("/formulir", data={
            **VALID, "csrf_token": csrf(form), "submit_key": hidden(form, "submit_key")},
            files=FILES)
        assert done.status_code == 200 and "Pendaftaran berhasil" in done.text
        ready = client.get("/readyz").json()
    assert ready["checks"]["redis"] == "ok" and ready["checks"]["job_queue"] == "ok"
    room = RoomKeys(cluster_settings.redis_prefix, cluster_settings.room)
    assert cluster_keys(empty_cluster, room.key("seq"))
    assert cluster_keys(empty_cluster, "*{attempts-*")  # the code's send and guess limits
    # The jobs went to the job Redis, none to the cluster.
    assert not cluster_keys(empty_cluster, "rq:*")
    assert redis_client.llen("rq:queue:antrean") >= 1
    room_client = open_sync(empty_cluster.url)
    try:
        work_jobs(cluster_settings.notify, redis_client, room_client)
        limiter = ChannelRateLimiter(room_client, {"sms": 5.0}, PortalKeys.of(room))
        assert limiter.try_take("sms") == 0.0
        assert room_client.exists(limiter.key("sms"))
    finally:
        room_client.close()
    assert redis_client.llen("rq:queue:antrean") == 0
    engine = create_db_engine(cluster_settings.database_url)
    with session_factory(engine)() as session:
        statuses = set(session.scalars(select(Notification.status)))
    engine.dispose()
    assert statuses == {SENT}


def test_the_queue_api_admits_in_order_on_a_cluster(cluster_settings: Settings) -> None:
    # Three browsers, each on its own web node of the same cluster.
    nodes = [create_app(cluster_settings) for _ in range(3)]
    with TestClient(nodes[0]) as first, TestClient(nodes[1]) as second, \
            TestClient(nodes[2]) as third:
        tokens = []
        for browser in (first, second, third):
            joined = browser.post("/api/v1/queue/join", json={})
            assert joined.status_code == 201, joined.text
            tokens.append(joined.json()["token"])
        assert [b.get(f"/api/v1/queue/{t}").json()["state"]
                for b, t in zip((first, second, third), tokens, strict=True)] == [
            "admitted", "admitted", "waiting"]
        entered = first.post(f"/api/v1/queue/{tokens[0]}/enter")
        assert entered.status_code == 200, entered.text
        assert first.post("/api/v1/session/heartbeat").status_code == 200
        assert first.post("/api/v1/session/finish").status_code == 200
        polled = third.get(f"/api/v1/queue/{tokens[2]}").json()
        assert polled["state"] == "admitted" and polled["enter_url"]
        stats = third.get("/api/v1/queue/stats").json()
    assert (stats["waiting"], stats["max_active"]) == (0, 2)


def test_the_console_logs_in_changes_settings_and_imports_on_a_cluster(
    cluster_settings: Settings, empty_cluster: RedisClusterProcesses
) -> None:
    add_user(cluster_settings, "ani", "admin")
    with TestClient(create_app(cluster_settings)) as client:
        log_in(client, "ani")
        saved = post_form(client, "/admin/pengaturan", "/admin/pengaturan", {
            **SETTINGS_FORM, "max_active": "37", "banner": "Server dirawat pukul 22.00 WIB."})
        assert saved.status_code == 200 and 'id="saved"' in saved.text
        changed_at = time.monotonic()
        while client.get("/api/v1/queue/stats").json()["max_active"] != 37:
            assert time.monotonic() - changed_at < 1.0  # every process within a second
            time.sleep(0.05)
        assert "Server dirawat" in client.get("/").text
        page = client.get("/admin/peserta/unggah")
        imported = client.post("/admin/peserta/unggah",
                               data={"csrf_token": csrf_of(page.text)},
                               files={"roster": ("kecil.csv", generated_roster(20), "text/csv")})
        assert imported.status_code == 200, imported.text[:300]
        assert 'id="count-inserted">20<' in imported.text
    assert cluster_keys(empty_cluster, "*{admin}:session:*")
    assert cluster_keys(empty_cluster, "*{admin}:roster-import:*")


def test_a_cluster_room_without_a_job_redis_does_not_start(
    empty_cluster: RedisClusterProcesses, tmp_path: Path
) -> None:
    env = {"ANTREAN_ENV": "test", "ANTREAN_VAR_DIR": str(tmp_path / "var"),
           "ANTREAN_REDIS_URL": empty_cluster.url}
    with pytest.raises(SettingsError, match="set ANTREAN_JOB_REDIS_URL"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="ANTREAN_JOB_REDIS_URL names a Redis Cluster"):
        Settings.from_env({**env, "ANTREAN_JOB_REDIS_URL": empty_cluster.url})
    worker = subprocess.run([sys.executable, "-m", "portal.cli.main", "worker"],
                            env={"PATH": "/usr/bin:/bin", **env}, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert worker.returncode == 1
    assert "ANTREAN_REDIS_URL names a Redis Cluster" in worker.stderr
    assert "set ANTREAN_JOB_REDIS_URL" in worker.stderr
