"""The transports a room runs over, each a real Redis: tests taking ``client`` run on all.

- autopipelined: a plain asyncio client on the portal's pool (``waitroom.direct``),
  as the portal builds it: the room's script calls share writes on a connection of
  their own. (The shared-pool pipeline of Sentinel clients, ``waitroom.autopipe``,
  has tests of its own.)
- redis-py: a single-connection asyncio client, on which the room keeps redis-py's
  own ``register_script`` objects.
- cluster: a 3-master Redis Cluster, started once per session (``tests.support.clusters``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
from redis.asyncio import Redis, RedisCluster

from tests.support.redis_servers import RedisClusterProcesses
from waitroom.direct import ScriptPool

TRANSPORTS = ("autopipelined", "redis-py", "cluster")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def cluster_client(redis_cluster: RedisClusterProcesses) -> AsyncIterator[RedisCluster]:
    """A client of the session's cluster, every node emptied before and after the test."""
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.port)
    await client.initialize()
    await client.flushall()
    yield client
    await client.flushall()
    await client.aclose()


@pytest.fixture
async def autopipelined_client(redis_client: redis.Redis, redis_url: str
                               ) -> AsyncIterator[Redis]:
    client = Redis.from_pool(ScriptPool.from_url(redis_url, max_connections=20, timeout=5))
    yield client
    await client.aclose()


@pytest.fixture
async def redis_py_client(redis_client: redis.Redis, redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, single_connection_client=True)
    yield client
    await client.aclose()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(transport: str, request: pytest.FixtureRequest) -> Redis | RedisCluster:
    """A client of an empty Redis, over each transport in turn."""
    chosen: Redis | RedisCluster = request.getfixturevalue(
        f"{transport.replace('-', '_')}_client")
    return chosen
