"""Three machines behind HAProxy, as ``deploy/`` describes them, through a bad morning.

Each node runs what its systemd units run (web, worker, loop) with the sample
settings and a ``var/`` of its own; documents go to an S3-compatible store,
e-mail to a real SMTP server, state to Redis and PostgreSQL. A few hundred
visitors, each its own browser on its own address, prove their NIK by e-mail,
queue, fill the form, upload and submit. A third of the way in, one machine is
lost: every process killed at once. Two thirds in, the Redis primary that holds
the room crashes and its replica takes over. The automatic cap keeps deciding throughout.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.cluster
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from sqlalchemy import create_engine, func, select, text

from bench.balancer import Balancer, haproxy_binary
from portal.admin.autocap import AutoCapConfig, recent_decisions, write_config
from portal.form.models import Submission
from tests.support.deployment import DEPLOY, MailDrop, Node, read_env_file, run_unit
from tests.support.redis_servers import RedisClusterProcesses, RedisProcess
from tests.support.s3 import S3Server
from tests.support.visitors import run_crowd
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

VISITORS = 240
LOAD_PROCESSES = 4
MAX_ACTIVE = 25
SPREAD_SECONDS = 40.0


def _overrides(redis_url: str, job_redis_url: str, database_url: str, s3: S3Server,
               bucket: str, smtp_port: int, public_url: str) -> dict[str, str]:
    """What differs from deploy/antrean.env on a test machine: addresses, ports, secrets."""
    return {
        "ANTREAN_SECRET_KEY": "multinode-test-secret-" + "k" * 32,
        "ANTREAN_PUBLIC_URL": public_url,
        "ANTREAN_TRUSTED_PROXIES": "127.0.0.1",
        "ANTREAN_WEB_WORKERS": "1",  # three machines share two cores here
        "ANTREAN_DATABASE_URL": database_url,
        "ANTREAN_REDIS_URL": redis_url,
        "ANTREAN_JOB_REDIS_URL": job_redis_url,
        **s3.env(bucket),
        "ANTREAN_SMTP_HOST": "127.0.0.1", "ANTREAN_SMTP_PORT": str(smtp_port),
        "ANTREAN_SMTP_SECURITY": "none", "ANTREAN_SMTP_USERNAME": "",
        "ANTREAN_SMTP_PASSWORD": "", "ANTREAN_SMS_URL": "",
        "ANTREAN_MAX_ACTIVE": str(MAX_ACTIVE), "ANTREAN_ADMIT_PER_MINUTE": "100000",
        "ANTREAN_NOTIFY_RETRY_INTERVALS": "1,2,5",
    }


@pytest.fixture
def fresh_postgres(postgres_server_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied for this test."""
    engine = create_engine(postgres_server_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield postgres_server_url


class Watch:
    """Samples the room through the balancer: the most ever holding a place at once."""

    def __init__(self, url: str, ca_file: str) -> None:
        self.url, self.ca_file = url, ca_file
        self.most_active = 0
        self.samples = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        tls = ssl.create_default_context(cafile=self.ca_file)
        with httpx.Client(verify=tls, timeout=5) as client:
            while not self.stopping.is_set():
                try:
                    stats = client.get(f"{self.url}/api/v1/queue/stats").json()
                    self.most_active = max(self.most_active, int(stats["active"]))
                    self.samples += 1
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                time.sleep(0.2)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


def _submissions(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(Submission))
                       .scalar_one())
    finally:
        engine.dispose()


def _room_primary(cluster: RedisClusterProcesses) -> int:
    """The port of the primary that holds the room's keys."""
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster.port)
    try:
        node = client.get_node_from_key(RoomKeys("antrean", "main").key("seq"))
        assert node is not None
        return int(node.port)
    finally:
        client.close()


def _autocap(cluster: RedisClusterProcesses, config: AutoCapConfig | None = None) -> list[Any]:
    """Switch the automatic cap on as the console does (when ``config``); its decisions."""
    async def talk() -> list[Any]:
        client = AsyncRedisCluster(host="127.0.0.1", port=cluster.port)
        try:
            room = WaitingRoom(client, RoomKeys("antrean", "main"))
            if config is not None:
                assert config.validate() == {}
                await write_config(room, config)
            return await recent_decisions(room, limit=500)
        finally:
            await client.aclose()

    return asyncio.run(talk())


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


@pytest.mark.skipif(haproxy_binary() is None, reason="HAProxy is not installed "
                    "(apt-get install haproxy; .ci/run installs it)")
def test_three_machines_behind_haproxy_lose_one_and_redis_fails_over(
        tmp_path: Path, fresh_postgres: str, s3_server: S3Server) -> None:
    database_url = fresh_postgres
    cluster = RedisClusterProcesses(tmp_path / "cluster", masters=3, replicas=1)
    jobs = RedisProcess(tmp_path / "jobs")
    mail = MailDrop(tmp_path / "mail")
    bucket = s3_server.new_bucket()
    nodes = [Node(f"node{n}", tmp_path / f"node{n}", {}) for n in (1, 2, 3)]
    balancer = Balancer(tmp_path / "lb", [node.address for node in nodes])
    env = {**read_env_file(DEPLOY / "antrean.env"),
           **_overrides(cluster.url, jobs.url, database_url, s3_server, bucket, mail.port,
                        balancer.url)}
    watch: Watch | None = None
    try:
        # One release migrates once, before its web servers start.
        run_unit("antrean-migrate.service", env, tmp_path / "release")
        for node in nodes:
            node.env = env
            node.start()
        balancer.start()
        ca_file = str(balancer.ca_file)
        watch = Watch(balancer.url, ca_file)
        # The balancer's request id is the portal's: its log line and the node's share it.
        first = httpx.get(balancer.url + "/healthz", timeout=10,
                          verify=ssl.create_default_context(cafile=ca_file))
        assert "_" in first.headers["x-request-id"], first.headers  # HAProxy's unique-id
        # The automatic cap on, held at the cap (its bounds are the cap): every few
        # seconds one loop, on whichever machine, decides and logs.
        _autocap(cluster, AutoCapConfig(enabled=True, min_cap=MAX_ACTIVE, max_cap=MAX_ACTIVE,
                                        interval_seconds=2, min_samples=1))

        serials = list(range(1, VISITORS + 1))
        share = [serials[i::LOAD_PROCESSES] for i in range(LOAD_PROCESSES)]
        context = multiprocessing.get_context("spawn")
        killed_at: float | None = None
        failed_over_at: float | None = None
        promoted_at = 0.0
        with ProcessPoolExecutor(LOAD_PROCESSES, mp_context=context) as pool:
            start_at = time.time() + 4
            futures = [pool.submit(run_crowd, balancer.url, ca_file, str(mail.directory),
                                   part, SPREAD_SECONDS, start_at) for part in share]
            # A third of the way in the first machine is lost; two thirds in, the
            # Redis primary holding the room crashes and its replica takes over.
            deadline = time.monotonic() + 400
            while failed_over_at is None and time.monotonic() < deadline:
                done = _submissions(database_url)
                if killed_at is None and done >= VISITORS // 3:
                    nodes[0].lose()
                    killed_at = time.time()
                elif killed_at is not None and done >= 2 * VISITORS // 3:
                    failed_over_at = time.time()
                    cluster.fail_over(_room_primary(cluster), kill=True)
                    promoted_at = time.time()
                time.sleep(0.2)
            visits = [v for future in futures for v in future.result(timeout=400)]
        assert killed_at is not None and failed_over_at is not None, "the run stalled"

        unfinished = [(v["serial"], v["error"]) for v in visits if v["registration"] is None]
        assert not unfinished, unfinished[:10]
        # No submission lost: one row for every receipt a visitor holds, none twice.
        registrations = {v["registration"] for v in visits}
        assert len(registrations) == VISITORS
        assert _submissions(database_url) == VISITORS
        # Every document is in the store every machine shares.
        stored = s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        assert stored >= VISITORS * 2
        # Only requests in flight when the machine went, or while Redis moved, failed.
        failures = [(at, what) for v in visits for at, what in v["failures"]]
        at_loss = [f for f in failures if killed_at - 0.5 <= f[0] <= killed_at + 5]
        at_move = [f for f in failures if failed_over_at - 0.5 <= f[0] <= promoted_at + 5]
        late = [(round(at - killed_at, 2), what) for at, what in failures
                if (at, what) not in at_loss and (at, what) not in at_move]
        assert not late, late[:10]
        # While Redis moved, the portal said so (503 + Retry-After), and only then.
        moving = [at for v in visits for at, _ in v["unavailable"]]
        assert all(failed_over_at - 0.5 <= at <= promoted_at + 5 for at in moving), \
            sorted(round(at - failed_over_at, 2) for at in moving)[-10:]
        lost = sum(v["lost"] for v in visits)
        # The cap held, seen from the visitors and from the room itself.
        intervals = [(v["entered_at"], v["leaving_at"]) for v in visits]
        assert _max_overlap(intervals) <= MAX_ACTIVE
        assert watch.samples > 10 and watch.most_active <= MAX_ACTIVE
        # The survivors kept the ticker, the notifier and the automatic cap going:
        # every code after the loss reached its mailbox.
        assert all(node.running(unit) for node in nodes[1:] for unit in node.processes)
        decided = [d.at for d in _autocap(cluster)]
        assert any(at > killed_at + 3 for at in decided), "the automatic cap stopped"
        assert any(at > promoted_at + 3 for at in decided), "no decision after the failover"
        gap = (max(moving) - failed_over_at) if moving else 0.0
        print(f"\nmultinode: {VISITORS} visitors; machine lost: {len(at_loss)} failed "
              f"request(s); Redis failover: primary to replica in "
              f"{promoted_at - failed_over_at:.1f} s, {len(moving)} answer(s) 503 over "
              f"{gap:.1f} s, {len(at_move)} other failed request(s), {lost} place(s) "
              f"lost; most active {watch.most_active}/{MAX_ACTIVE}; {mail.count} e-mails")
    finally:
        if watch is not None:
            watch.stop()
        balancer.stop()
        for node in nodes:
            node.stop()
        mail.stop()
        jobs.stop()
        cluster.stop()
