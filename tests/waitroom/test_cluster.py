"""The room's scripts run unchanged on a 3-node Redis Cluster."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from tests.support.redis_servers import RedisProcess, cluster_port, redis_server_binary
from waitroom.config import RoomConfig
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom
from waitroom.states import VisitorState

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(redis_server_binary() is None,
                       reason="no redis-server binary: cannot start a local cluster"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def cluster_nodes(tmp_path: Path) -> Iterator[list[RedisProcess]]:
    nodes = [
        RedisProcess(tmp_path / f"node{i}", "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf", "--appendonly", "no",
                     port=cluster_port())
        for i in range(3)
    ]
    try:
        binary = redis_server_binary()
        assert binary is not None
        cli = os.path.join(os.path.dirname(binary), "redis-cli")
        if not os.access(cli, os.X_OK):
            cli = "redis-cli"
        subprocess.run(
            [cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes],
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            info = subprocess.run([cli, "-p", str(nodes[0].port), "cluster", "info"],
                                  capture_output=True, text=True).stdout
            if "cluster_state:ok" in info:
                break
            time.sleep(0.1)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
async def cluster(cluster_nodes: list[RedisProcess]) -> AsyncIterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=cluster_nodes[0].port)
    await client.initialize()
    yield client
    await client.aclose()


async def test_rooms_work_on_a_cluster(cluster: RedisCluster) -> None:
    rooms = []
    for name in ("north", "south", "east"):  # rooms land on different slots
        room = WaitingRoom(cluster, RoomKeys("antrean", name))
        await room.ensure_config(RoomConfig(max_active=1))
        rooms.append(room)
    for room in rooms:
        first = await room.join(["nik-hash"], address_hash="a", limit_per_minute=10)
        second = await room.join()
        assert (first.state, second.state) == (VisitorState.ADMITTED, VisitorState.WAITING)
        grant = await room.enter(first.number)
        assert grant is not None
        assert await room.heartbeat(grant.session_id) is not None
        assert await room.finish(grant.session_id)
        assert (await room.poll(second.number)).state is VisitorState.ADMITTED
        assert await room.tick_if_leader() is not None
        stats = await room.stats()
        assert (stats.admitted_unclaimed, stats.finished_total) == (1, 1)
