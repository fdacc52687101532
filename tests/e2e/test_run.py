"""``antrean run`` on embedded defaults: serves the spine, heals its children, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT
from tests.support.servers import free_port


def start_run(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``antrean run`` in a subprocess on a free port, once it answers /readyz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREAN_")}
    env.update({"ANTREAN_VAR_DIR": str(tmp_path / "var"), "ANTREAN_PORT": str(port)})
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli.main", "run", *args], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    output, _ = process.communicate(timeout=30)
    raise AssertionError(f"antrean run did not become ready:\n{output}")


def live_processes() -> dict[int, tuple[int, str]]:
    """Every process not yet dead (zombies are), as pid: (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, ValueError):
            continue  # gone while we looked
        if state != "Z":
            found[int(entry.name)] = (int(parent), command)
    return found


def descendants(pid: int) -> dict[int, str]:
    """The live processes below ``pid``: its children, theirs, and so on."""
    processes = live_processes()
    found: dict[int, str] = {}
    parents = {pid}
    while parents:
        below = {child: command for child, (parent, command) in processes.items()
                 if parent in parents and child not in found}
        found.update(below)
        parents = set(below)
    return found


def child_pid(runner: int, command_end: str) -> int | None:
    return next((pid for pid, (parent, command) in live_processes().items()
                 if parent == runner and command.endswith(command_end)), None)


@pytest.mark.slow
def test_run_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    process, url = start_run(tmp_path)
    try:
        with httpx.Client(base_url=url) as client:
            assert "Ambil nomor antrean" in client.get("/").text
            joined = client.post("/api/v1/queue/join", json={}).json()
            assert joined["state"] == "admitted"
        assert (tmp_path / "var" / "antrean.db").exists()
        assert (tmp_path / "var" / "secret_key").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"{url}/" in output
    # every child is gone: nothing answers on the port any more
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/healthz", timeout=1)
    assert "Traceback" not in output


class Poller(threading.Thread):
    """Asks for / and /readyz every 0.1 s and keeps every failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.failures, self.answers = url, list[str](), 0
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self.done.is_set():
                for path in ("/", "/readyz"):
                    try:
                        status = client.get(path).status_code
                    except httpx.HTTPError as exc:
                        self.failures.append(f"{path}: {exc!r}")
                    else:
                        self.answers += 1
                        if status != 200:
                            self.failures.append(f"{path}: {status}")
                self.done.wait(0.1)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads /proc; the parent-death signal is Linux's")
def test_run_restarts_a_killed_child_and_leaves_nothing_when_killed(tmp_path: Path) -> None:
    process, url = start_run(tmp_path, "--no-demo")
    poller = Poller(url)
    started: dict[int, str] = {}
    try:
        worker = child_pid(process.pid, "portal.cli.main worker")
        assert worker is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (helpers := descendants(worker)):
            time.sleep(0.1)
        assert helpers, "the worker started no scheduler process"  # RQ's, in its group
        poller.start()
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 15
        restarted = None
        while time.monotonic() < deadline and restarted in (None, worker):
            time.sleep(0.1)
            restarted = child_pid(process.pid, "portal.cli.main worker")
        time.sleep(0.5)  # the restarted worker's first moments, still polled
        poller.done.set()
        poller.join()
        assert restarted not in (None, worker), "the worker was not started again"
        assert poller.failures == []
        assert poller.answers > 0
        while time.monotonic() < deadline and set(helpers) & set(live_processes()):
            time.sleep(0.1)
        assert not set(helpers) & set(live_processes()), "the killed worker's helpers were left"
        started = descendants(process.pid)
        commands = " | ".join(started.values())
        for name in ("redis-server", "portal.serve", "main worker", "main loop"):
            assert name in commands
    finally:
        poller.done.set()
        process.kill()  # SIGKILL: the runner cannot stop its children itself
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and set(started) & set(live_processes()):
        time.sleep(0.1)
    left = {pid: command for pid, command in started.items() if pid in live_processes()}
    assert left == {}, "processes outlived the runner"
    output, _ = process.communicate(timeout=30)
    assert "worker exited with signal SIGKILL" in output, output
    assert f"worker started again (pid {restarted})" in output, output
