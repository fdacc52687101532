"""``antrean run``: the embedded Redis, migrations, and the three processes, kept running."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

from rq import Queue
from sqlalchemy import Engine

from portal.admin.upkeep import admin_upkeep
from portal.cli.supervise import Child, embedded_redis, stop_in_order, supervise, wait_for_redis
from portal.db import create_db_engine, session_factory, upgrade
from portal.keys import PortalKeys
from portal.notify.events import send_due_reminders, send_turn_notices
from portal.outage import Outage
from portal.redis_clients import open_async, open_job_connection
from portal.settings import Settings
from portal.state import JOB_QUEUE
from portal.telemetry import prepare_multiprocess_dir
from waitroom.room import WaitingRoom
from waitroom.tokens import TokenSigner

log = logging.getLogger("antrean.run")


def migrate(settings: Settings) -> None:
    """Bring the database schema up to date."""
    engine = create_db_engine(settings.database_url, settings.database)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def web_command(settings: Settings) -> list[str]:
    """The web server of one machine: ``portal.serve`` with ``settings.web_workers`` processes.

    ``portal.serve`` is uvicorn with a deadline on each request's line and
    headers (ANTREAN_HEADER_TIMEOUT_SECONDS), which uvicorn's own command line
    cannot set; it reads the rest of its settings from the environment.
    """
    return [sys.executable, "-m", "portal.serve", "--host", settings.host,
            "--port", str(settings.port), "--workers", str(settings.web_workers)]


def run(settings: Settings) -> int:
    """Start everything in the foreground until Ctrl-C or SIGTERM; return an exit code.

    A child that dies is started again after a back-off (1 s, 2 s, 4 s … 30 s);
    only a signal to the runner stops them all: the web server first, so it
    finishes the requests in flight, then the worker and the loop, then Redis.
    """
    env = dict(os.environ)
    env.setdefault("ANTREAN_VAR_DIR", str(settings.var_dir))
    stores: list[Child] = []
    services: list[Child] = []
    socket_dir: Path | None = None
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    try:
        if settings.redis_url is None:
            socket = settings.var_dir / "redis.sock"
            if len(os.fsencode(socket)) > 100:  # a Unix socket's path has a limit of 107 bytes
                socket_dir = Path(tempfile.mkdtemp(prefix="antrean-"))
                socket = socket_dir / "redis.sock"
            embedded = embedded_redis(settings.var_dir, socket, env)
            stores.append(embedded)
            embedded.start(time.monotonic())
            wait_for_redis(embedded, socket)
            env["ANTREAN_REDIS_URL"] = f"unix://{socket}"
            log.info("embedded Redis started (files under %s)", settings.var_dir)
        # what the command line decided (--no-demo) stands over the environment
        settings = replace(Settings.from_env(env), demo=settings.demo)
        migrate(settings)
        demo_password = None
        if settings.demo:
            from portal.cli.demo import seed_demo, seed_demo_operator

            seed_demo(settings)
            demo_password = seed_demo_operator(settings)

        python = sys.executable
        web_env = dict(env)  # only the web server's workers write metric files
        prepare_multiprocess_dir(settings.var_dir, web_env)
        services = [
            Child("web", web_command(settings), web_env),
            Child("worker", [python, "-m", "portal.cli.main", "worker"], env),
            Child("loop", [python, "-m", "portal.cli.main", "loop"], env),
        ]
        for child in services:
            child.start(time.monotonic())
        print(f"\n  Antrean berjalan di http://{settings.host}:{settings.port}/\n", flush=True)
        if demo_password:
            # Shown once on the terminal, never logged: it is a working credential.
            print(f"  Akun operator demo: operator / {demo_password}\n", flush=True)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervise([*stores, *services], lambda: stopping)
    finally:
        stop_in_order([services[:1], services[1:], stores])
        if socket_dir is not None:
            shutil.rmtree(socket_dir, ignore_errors=True)
        log.info("stopped")
    return 0


def stop_if_cancelled(exc: BaseException | None = None) -> None:
    """Raise CancelledError when the running task was asked to stop.

    On Python 3.11 a step can lose a stop: a cancellation that arrives as an
    ``asyncio.timeout`` inside it (redis-py's) expires comes out as TimeoutError, and
    one that arrives as the awaited call of an ``asyncio.wait_for`` (redis-py's writes)
    completes is swallowed whole. A loop that carries on past errors would then never
    end. The task still counts the request (``Task.cancelling``), so it is honoured here.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from exc


async def keep_stepping(step: Callable[[], Awaitable[None]], interval: float,
                        outage: Outage) -> None:
    """Run ``step`` every ``interval`` seconds through errors (said once by ``outage``)
    until the task is cancelled, even by a cancellation a step lost."""
    while True:
        try:
            await step()
        except Exception as exc:  # keep going through a Redis or database restart
            stop_if_cancelled(exc)
            outage.failed(exc, time.monotonic())
        else:
            outage.succeeded(time.monotonic())
        stop_if_cancelled()  # a stop the step swallowed whole
        await asyncio.sleep(interval)


async def tick_loop(settings: Settings, interval: float = 0.5,
                    reminder_interval: float = 60.0) -> None:
    """The background loop: admission ticks, turn notices, due reminders, admin upkeep."""
    assert settings.redis_url is not None
    client = open_async(settings.redis_url, max_connections=20)
    room = WaitingRoom(client, PortalKeys(settings.redis_prefix, settings.room).room_keys)
    engine = create_db_engine(settings.database_url, settings.database)
    notifier = Notifier(settings, engine)
    next_reminders = 0.0

    async def step() -> None:
        nonlocal next_reminders
        await room.tick_if_leader(lock_ms=int(interval * 900))
        await admin_upkeep(room, settings.tz)
        due = await room.take_due_notices()
        if due:
            await notifier.turns(room, due)
        if time.monotonic() >= next_reminders:
            next_reminders = time.monotonic() + reminder_interval
            await asyncio.to_thread(notifier.reminders)

    try:
        await keep_stepping(step, interval, Outage(log, "loop"))
    finally:
        await client.aclose()
        notifier.close()


class Notifier:
    """The loop's side of notifications: its own database session and RQ queue."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        assert settings.job_url is not None
        self.settings = settings
        self.sessions = session_factory(engine)
        self.engine = engine
        self.job_redis = open_job_connection(settings.job_url)
        self.queue = Queue(JOB_QUEUE, connection=self.job_redis)
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
        self.job_redis.close()
        self.engine.dispose()
