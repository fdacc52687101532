"""The one place Redis clients are built from a Redis URL (see ``portal.redis_target``).

- ``open_async``: the app's hot path. One server: a blocking pool, so a burst of
  requests waits briefly for a free connection instead of failing at once. A
  cluster: redis-py's cluster client, which follows MOVED and ASK itself. A
  Sentinel-managed primary: the same blocking pool, asking the Sentinels where
  the primary is whenever it connects.
- ``open_sync``: the same Redis for the CLI, the loop's helpers and the jobs.
- ``open_job_connection``: the Redis of the RQ queue, which must not be a cluster.
"""

from __future__ import annotations

from typing import Any

from redis import Redis as SyncRedis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.sentinel import Sentinel as SyncSentinel

from portal.redis_target import CLUSTER, SENTINEL, RedisTarget, job_redis_target, parse_redis_url
from waitroom.direct import ScriptPool

AsyncRedisClient = Redis | RedisCluster
SyncRedisClient = SyncRedis | SyncRedisCluster

# A request gives up on a silent Redis within seconds and answers 503.
TIMEOUTS: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2}
POOL_WAIT_SECONDS = 5


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (it finds the primary on every connect) with a wait for a free slot."""


def _credentials(target: RedisTarget) -> dict[str, Any]:
    return {"username": target.username, "password": target.password}


def _sentinel_options(target: RedisTarget) -> dict[str, Any]:
    options: dict[str, Any] = dict(TIMEOUTS)
    if target.sentinel_password is not None:
        options["password"] = target.sentinel_password
    return options


def open_async(url: str, *, max_connections: int = 100,
               name: str = "ANTREAN_REDIS_URL") -> AsyncRedisClient:
    """An asyncio client of the Redis at ``url`` (connects lazily: nothing is sent yet)."""
    target = parse_redis_url(url, name)
    if target.kind == CLUSTER:
        # max_connections is per node; a node past it answers MaxConnectionsError (a 503).
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            ssl=target.tls, max_connections=max_connections, health_check_interval=10,
            **_credentials(target), **TIMEOUTS)
    if target.kind == SENTINEL:
        sentinel = Sentinel(list(target.nodes), sentinel_kwargs=_sentinel_options(target),
                            **TIMEOUTS)
        client: Redis = sentinel.master_for(
            target.service, redis_class=Redis, connection_pool_class=BlockingSentinelPool,
            db=target.db, ssl=target.tls, max_connections=max_connections,
            timeout=POOL_WAIT_SECONDS, health_check_interval=10, **_credentials(target))
        return client
    return Redis.from_pool(ScriptPool.from_url(
        url, max_connections=max_connections, timeout=POOL_WAIT_SECONDS,
        health_check_interval=10, **TIMEOUTS))


def open_sync(url: str, *, name: str = "ANTREAN_REDIS_URL",
              **options: Any) -> SyncRedisClient:
    """A synchronous client of the Redis at ``url``; ``options`` go to its connections."""
    target = parse_redis_url(url, name)
    if target.kind == CLUSTER:
        return SyncRedisCluster(
            startup_nodes=[SyncClusterNode(host, port) for host, port in target.nodes],
            ssl=target.tls, **_credentials(target), **options)
    if target.kind == SENTINEL:
        sentinel = SyncSentinel(list(target.nodes), sentinel_kwargs=_sentinel_options(target),
                                **options)
        client: SyncRedis = sentinel.master_for(target.service, db=target.db, ssl=target.tls,
                                                **_credentials(target))
        return client
    return SyncRedis.from_url(url, **options)


def open_job_connection(url: str, *, name: str = "ANTREAN_JOB_REDIS_URL") -> SyncRedis:
    """The synchronous connection of the RQ queue and workers (RQ sets its own timeouts)."""
    job_redis_target(url, name)
    client = open_sync(url, name=name)
    assert isinstance(client, SyncRedis)
    return client
