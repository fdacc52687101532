"""Live servers for the tests: uvicorn in its own process(es), on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn in its own process(es), on a free port."""

    def __init__(self, env: dict[str, str], workers: int = 1, log: Path | None = None,
                 command: Callable[[int], list[str]] | None = None) -> None:
        """Start the server; ``command`` makes its command line for a port, instead of uvicorn's."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        output = log.open("ab") if log is not None else None
        self.process = subprocess.Popen(
            command(self.port) if command is not None else
            [sys.executable, "-m", "uvicorn", "portal.asgi:app_from_env", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
             "--no-access-log", "--no-proxy-headers", "--log-level", "warning"],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=output, stderr=output,
        )
        if output is not None:
            output.close()  # the server holds its own copy
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not become ready in 30 s")

    def stop(self) -> None:
        stop_process(self.process, timeout=15)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate a server a fixture started; kill it if it has not stopped in ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Operator passwords at argon2's least cost: tests log in hundreds of times, and
# tests/portal/admin/test_accounts.py checks the cost settings themselves.
CHEAP_PASSWORDS = {"ANTREAN_ADMIN_PASSWORD_TIME_COST": "1",
                   "ANTREAN_ADMIN_PASSWORD_MEMORY_KIB": "64"}


def live_env(redis_url: str, database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a live server process of the test's services."""
    return {
        "ANTREAN_ENV": "test",
        "ANTREAN_REDIS_URL": redis_url,
        "ANTREAN_DATABASE_URL": database_url,
        "ANTREAN_VAR_DIR": str(tmp_path / "var"),
        "ANTREAN_JOIN_BURST": "100000",
        "ANTREAN_JOIN_RATE_PER_MINUTE": "100000",
        **CHEAP_PASSWORDS,
        **extra,
    }

