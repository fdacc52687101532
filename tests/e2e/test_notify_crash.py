"""A worker killed (SIGKILL) mid-batch: after recovery no message arrives twice, and every
message arrives but, at most, the one whose "sent" was committed just before the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue
from sqlalchemy import select

from portal.db import create_db_engine, session_factory
from portal.notify import dispatch
from portal.notify.models import SENT, Notification
from portal.notify.records import MessageRequest, batch_progress
from portal.notify.settings import NotifySettings
from tests.support import ROOT
from tests.support.notify import TEST_SECRET, SmtpRecorder, sqlalchemy_url

MESSAGES = 300


@pytest.fixture
def smtp_server() -> Iterator[SmtpRecorder]:
    server = SmtpRecorder().start()
    yield server
    server.stop()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Its own process group: the kill takes the whole worker, like a machine dying.
    return subprocess.Popen([sys.executable, "-m", "portal.notify.worker", "--simple"],
                            env={**os.environ, **env}, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_worker_killed_mid_batch_sends_nothing_twice_and_loses_at_most_one(
    database_url: str, redis_client: redis.Redis, redis_url: str, tmp_path: Path,
    smtp_server: SmtpRecorder,
) -> None:
    url = sqlalchemy_url(database_url)
    env = {
        "ANTREAN_ENV": "test",
        "ANTREAN_VAR_DIR": str(tmp_path / "var"),
        "ANTREAN_DATABASE_URL": url,
        "ANTREAN_REDIS_URL": redis_url,
        "ANTREAN_SECRET_KEY": TEST_SECRET,
        "ANTREAN_SMTP_HOST": "127.0.0.1",
        "ANTREAN_SMTP_PORT": str(smtp_server.port),
        "ANTREAN_SMTP_FROM": "noreply@antrean.example.go.id",
        "ANTREAN_OUTBOX": "false",
        "ANTREAN_NOTIFY_CHANNEL_RATE_PER_SECOND": "0",
        "ANTREAN_NOTIFY_RETRY_INTERVALS": "0,0",
    }
    settings = NotifySettings.from_env(env)
    engine = create_db_engine(url)
    sessions = session_factory(engine)
    queue = Queue("antrean", connection=redis_client)
    requests = [MessageRequest("email", f"peserta{i}@example.com", "submission_receipt",
                               f"REG-{i:05d}", "submission_receipt",
                               {"name": f"Peserta {i}", "registration_number": f"REG-{i:05d}",
                                "receipt_url": "https://antrean.example.go.id/kwitansi"},
                               batch_id="crash")
                for i in range(MESSAGES)]
    with sessions() as session:
        assert len(dispatch.enqueue_messages(session, queue, settings, requests)) == MESSAGES
        session.commit()

    worker = start_worker(env)
    try:
        assert smtp_server.wait_for(MESSAGES // 3, timeout=40), "the worker did not get going"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    delivered_before_restart = len(smtp_server.messages)
    assert delivered_before_restart < MESSAGES, "killed too late to prove anything"

    # The restarted side: recovery (as the loop runs it each minute) after the lease,
    # which for a worker we know is dead we need not sit through.
    after_lease = datetime.now(UTC) + timedelta(seconds=settings.lease_seconds + 1)
    with sessions() as session:
        dispatch.recover_stalled(session, queue, settings, now=after_lease)
        session.commit()
    restarted_at = datetime.now(UTC)
    worker = start_worker(env)
    try:
        deadline = time.monotonic() + 90  # about 15 s unless the machine is very busy
        while time.monotonic() < deadline:
            with sessions() as session:
                progress = batch_progress(session, "crash")
            if progress.done:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # a duplicate would arrive now
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    with sessions() as session:
        records = list(session.scalars(select(Notification).order_by(Notification.id)))
    engine.dispose()
    assert {r.status for r in records} == {SENT}, progress
    counts = Counter(smtp_server.message_ids())
    ids = {f"<notification-{r.id}@antrean.example.go.id>": r for r in records}
    duplicates = {mid: n for mid, n in counts.items() if n != 1}
    assert duplicates == {}
    assert set(counts) <= set(ids)
    # The one gap the design leaves (portal/notify/channels.py): a kill after the commit of
    # "sent" and before the provider's last byte loses that message. Only the killed
    # worker's message in flight can fall into it.
    missing = [ids[mid] for mid in set(ids) - set(counts)]
    assert len(missing) <= 1, [r.id for r in missing]
    for record in missing:
        assert record.sent_at is not None
        assert record.sent_at.replace(tzinfo=record.sent_at.tzinfo or UTC) < restarted_at
    assert len(smtp_server.messages) == MESSAGES - len(missing)
