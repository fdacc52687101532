"""The session's Redis Cluster (3 primaries), shared by the waitroom and portal suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.cluster

from tests.support.redis_servers import RedisClusterProcesses, redis_server_binary


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    """Three redis-server processes clustered once per session."""
    if redis_server_binary() is None:
        pytest.skip("no redis-server binary: cannot start a local cluster")
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def empty_cluster(redis_cluster: RedisClusterProcesses) -> Iterator[RedisClusterProcesses]:
    """The session's cluster, every primary emptied before and after the test."""
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=redis_cluster.port)
    client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    yield redis_cluster
    client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    client.close()
