"""The samples under ``deploy/``, run on one machine the way a province runs them on several.

A *node* stands for one machine: the processes its systemd units start (web,
worker, loop), with their command lines and environment read from the unit
files and ``deploy/antrean.env``, and a ``var/`` directory of its own. The
balancer is HAProxy with ``deploy/haproxy/haproxy.cfg``. Nothing here writes a
command line or a setting the samples do not hold, except what differs on a
test machine (addresses, ports, secrets), named in ``overrides``.
"""

from __future__ import annotations

import email.policy
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.support import ROOT
from tests.support.servers import free_port

DEPLOY = ROOT / "deploy"
UNITS = ("antrean-web.service", "antrean-worker@.service", "antrean-loop.service")
INSTALLED_COMMAND = "/opt/antrean/.venv/bin/antrean"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemd's EnvironmentFile= reads them (no quotes used)."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"bad line in {path}: {raw!r}"
        values[name] = value
    return values


@dataclass(frozen=True)
class Unit:
    """What a systemd service unit runs: the command and where its settings come from."""

    name: str
    exec_start: str
    environment_file: str | None
    environment: dict[str, str]
    working_directory: str | None

    def command(self, instance: str = "1") -> list[str]:
        """The command line, the installed ``antrean`` being this checkout's."""
        words = shlex.split(self.exec_start.replace("%i", instance))
        assert words[0] == INSTALLED_COMMAND, f"{self.name} runs {words[0]!r}"
        return [sys.executable, "-m", "portal.cli.main", *words[1:]]


def read_unit(path: Path) -> Unit:
    """The [Service] section of one unit file."""
    section, exec_start, env_file, env, workdir = "", None, None, {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section != "[Service]":
            continue
        key, _, value = line.partition("=")
        if key == "ExecStart":
            exec_start = value
        elif key == "EnvironmentFile":
            env_file = value
        elif key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = setting
        elif key == "WorkingDirectory":
            workdir = value
    assert exec_start, f"{path} has no ExecStart"
    return Unit(path.name, exec_start, env_file, env, workdir)


class MailDrop:
    """A real SMTP server writing each message under ``<directory>/<recipient>/``.

    Visitors in other processes read their codes from there, as a person reads
    their mailbox; nothing of the portal is asked for a code.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.count = 0
        self.lock = threading.Lock()
        drop = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any,  # noqa: N802
                                  envelope: Any) -> str:
                with drop.lock:
                    drop.count += 1
                    number = drop.count
                for recipient in envelope.rcpt_tos:
                    box = drop.directory / recipient.lower()
                    box.mkdir(parents=True, exist_ok=True)
                    partial = box / f".{number}.tmp"
                    partial.write_bytes(envelope.content)
                    partial.rename(box / f"{number}.eml")
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def read_mail_codes(directory: Path, recipient: str) -> list[str]:
    """The six-digit codes in the messages a recipient got, oldest first."""
    box = directory / recipient.lower()
    if not box.is_dir():
        return []
    codes = []
    for path in sorted(box.glob("*.eml"), key=lambda p: int(p.stem)):
        message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
        part = message.get_body(preferencelist=("plain",))
        found = re.search(r"\b(\d{6})\b", str(part.get_content()) if part else "")
        if found:
            codes.append(found.group(1))
    return codes


@dataclass
class Node:
    """One machine: the processes of its units, with a ``var/`` directory of its own."""

    name: str
    directory: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    log: Any = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start what the units start, then wait until this machine says it is ready."""
        var = self.directory / "var"
        var.mkdir(parents=True, exist_ok=True)
        self.log = log = (self.directory / "log").open("ab")
        for unit_name in UNITS:
            unit = read_unit(DEPLOY / "systemd" / unit_name)
            env = {**os.environ, **self.env, **unit.environment,
                   "ANTREAN_HOST": "127.0.0.1", "ANTREAN_PORT": str(self.port),
                   "ANTREAN_VAR_DIR": str(var), "PYTHONPATH": str(ROOT)}
            self.processes[unit_name] = subprocess.Popen(
                unit.command(), env=env, cwd=ROOT, stdout=log, stderr=log,
                start_new_session=True)  # a process group each: a lost machine loses all
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for unit_name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{self.name}: {unit_name} exited with "
                                       f"{process.returncode}; see {self.directory / 'log'}")
            try:
                if httpx.get(f"http://{self.address}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready in 60 s; see {self.directory / 'log'}")

    def lose(self) -> None:
        """The machine is gone at once: every process killed, nothing finished."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.log is not None:
            self.log.close()

    def running(self, unit_name: str) -> bool:
        return self.processes[unit_name].poll() is None


def run_unit(unit_name: str, env: dict[str, str], var_dir: Path) -> None:
    """Run a oneshot unit (the release's migrations) to its end."""
    unit = read_unit(DEPLOY / "systemd" / unit_name)
    var_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(unit.command(), env={**os.environ, **env, **unit.environment,
                                        "ANTREAN_VAR_DIR": str(var_dir),
                                        "PYTHONPATH": str(ROOT)},
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
