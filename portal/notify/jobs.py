"""What RQ runs: send one notification, claimed atomically, handed over at most once.

At-most-once rests on three steps around the provider:

1. claim: ``queued`` → ``sending`` in one conditional UPDATE (a second job, a
   retry of a job that already won, or a job for a withdrawn message finds
   nothing to claim and returns);
2. hand-over: the channel sends everything but the last byte of the message,
   then commits ``sent`` (conditional on the claim still holding), then sends
   the last byte;
3. a worker killed before step 2 committed leaves ``sending``: the provider
   never got the final byte, so ``dispatch.recover_stalled`` re-queues it once
   the lease ran out.

The one gap: a worker killed after step 2's commit and before the last byte
loses that one message while its record says ``sent`` (the gap is narrowed to
the commit's return; sending the byte first would risk a duplicate instead).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rq import get_current_job
from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from portal.db import create_db_engine, session_factory
from portal.keys import PortalKeys
from portal.notify.channels import (
    DeliveryError,
    OutboxChannel,
    SmsGatewayChannel,
    SmtpChannel,
)
from portal.notify.messages import (
    UnsafeMessage,
    build_email,
    message_id_for,
    render_email,
    render_sms,
)
from portal.notify.models import QUEUED, Notification
from portal.notify.ratelimit import ChannelRateLimiter
from portal.notify.records import Attachment, claim, mark_sent, mark_unsent
from portal.notify.settings import NotifySettings
from portal.redis_clients import TIMEOUTS, SyncRedisClient, open_sync

log = logging.getLogger("antrean.notify")


class Superseded(Exception):
    """The claim was taken over (lease expired and re-queued); this job must not send."""


@dataclass
class NotifyRuntime:
    """Connections and channels of one worker process, built once and reused by its jobs."""

    settings: NotifySettings
    sessions: sessionmaker[Session]
    # The room's Redis (not the job queue's): rate buckets, roster import progress.
    redis: SyncRedisClient | None
    limiter: ChannelRateLimiter | None
    outbox: OutboxChannel
    smtp: SmtpChannel | None
    sms: SmsGatewayChannel | None

    def close(self) -> None:
        """Close the kept SMTP connection."""
        if self.smtp is not None:
            self.smtp.close()


def build_runtime(settings: NotifySettings, sessions: sessionmaker[Session] | None = None,
                  redis: SyncRedisClient | None = None) -> NotifyRuntime:
    """Build the runtime a worker's jobs use (connections open lazily on first use)."""
    if sessions is None:
        engine = create_db_engine(settings.database_url, settings.database)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_commit_without_fsync)
        sessions = session_factory(engine)
    if redis is None and settings.redis_url is not None:
        redis = open_sync(settings.redis_url, **TIMEOUTS)
    limiter = ChannelRateLimiter(redis, dict(settings.channel_rates),
                                 PortalKeys(settings.redis_prefix)) if redis else None
    return NotifyRuntime(
        settings=settings,
        sessions=sessions,
        redis=redis,
        limiter=limiter,
        outbox=OutboxChannel(settings.outbox_dir),
        smtp=SmtpChannel(settings) if settings.smtp_host and not settings.outbox else None,
        sms=SmsGatewayChannel(settings) if settings.sms_url and not settings.outbox else None,
    )


def _sqlite_commit_without_fsync(dbapi_connection: Any, _record: Any) -> None:
    # In WAL mode a commit is then one write() to the OS, safe when a worker is killed
    # (only a power cut can lose it), which keeps the hand-over gap to microseconds.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_runtime: NotifyRuntime | None = None


def install_runtime(runtime: NotifyRuntime | None) -> None:
    """Use ``runtime`` for the jobs of this process (tests, benchmarks); None forgets it."""
    global _runtime
    if _runtime is not None and _runtime is not runtime:
        _runtime.close()
    _runtime = runtime


def current_runtime() -> NotifyRuntime:
    """The installed runtime, or one built from the environment on the first job."""
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(NotifySettings.from_env())
    return _runtime


def _last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


def send_notification(notification_id: int) -> str:
    """Deliver one notification unless already claimed; return what happened."""
    runtime = current_runtime()
    settings = runtime.settings
    with runtime.sessions() as session:
        record = session.get(Notification, notification_id)
        if record is None or record.status != QUEUED:
            return "skipped"
        # Wait for the channel's rate before claiming, so the lease does not run meanwhile.
        if runtime.limiter is not None and not settings.outbox:
            if not runtime.limiter.wait_for_token(record.channel,
                                                  settings.job_timeout_seconds / 2):
                raise DeliveryError("rate limit: no capacity in time")
        fence = claim(session, notification_id, timedelta(seconds=settings.lease_seconds))
        session.commit()
        if fence is None:
            return "skipped"
        try:
            transport = _deliver(runtime, session, record, fence)
        except Superseded:
            log.warning("notification %s superseded by a newer claim", notification_id)
            return "superseded"
        except UnsafeMessage as exc:
            _record_failure(session, record, fence, str(exc), final=True)
            count_outcome(runtime, record.channel, "refused")
            return "refused"
        except DeliveryError as exc:
            final = _last_try()
            _record_failure(session, record, fence, exc.reason, final=final)
            count_outcome(runtime, record.channel, "failed" if final else "retried")
            raise
        except Exception as exc:
            final = _last_try()
            _record_failure(session, record, fence, f"error: {type(exc).__name__}", final=final)
            count_outcome(runtime, record.channel, "failed" if final else "retried")
            raise
        count_outcome(runtime, record.channel, "sent")
        log.info("notification %s sent: channel=%s via=%s purpose=%s recipient=%s",
                 record.id, record.channel, transport, record.purpose, record.recipient_key[:12])
        return "sent"


OUTCOMES = ("sent", "retried", "failed", "refused")


def count_outcome(runtime: NotifyRuntime, channel: str, outcome: str) -> None:
    """Count one delivery's outcome in Redis, where /metrics of any web process reads it.

    The jobs run in worker processes (forked per job, on any machine), so a counter
    in this process would be lost with it; a missing Redis costs the count, not the job.
    """
    if runtime.redis is None:
        return
    try:
        runtime.redis.hincrby(PortalKeys(runtime.settings.redis_prefix).notify_outcomes(),
                              f"{channel}:{outcome}", 1)
    except Exception as exc:
        log.warning("notification outcome not counted: %s", type(exc).__name__)


def _record_failure(session: Session, record: Notification, fence: int, reason: str,
                    *, final: bool) -> None:
    session.rollback()
    try:
        mark_unsent(session, record.id, fence, reason, final)
        session.commit()
    except Exception as exc:  # the database is down too; the lease brings it back later
        log.error("notification %s: could not record the failure (%s)", record.id,
                  type(exc).__name__)
        session.rollback()
    log.warning("notification %s %s: channel=%s purpose=%s recipient=%s reason=%s", record.id,
                "failed for good" if final else "will be retried", record.channel,
                record.purpose, record.recipient_key[:12], reason)


def _deliver(runtime: NotifyRuntime, session: Session, record: Notification, fence: int) -> str:
    settings = runtime.settings
    transport = "outbox" if settings.outbox else ("smtp" if record.channel == "email" else "http")

    postgres = session.get_bind().dialect.name == "postgresql"

    def handover() -> None:
        if postgres:
            # Between this commit and the provider's last byte is the one gap where a
            # killed worker loses a message; not waiting for the WAL flush narrows it to
            # a round trip (a PostgreSQL crash in the next ~0.6 s could resend it instead).
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        if not mark_sent(session, record.id, fence, transport):
            session.rollback()
            raise Superseded(record.id)
        session.commit()

    if record.channel == "email":
        content = render_email(record.template, record.context, settings.timezone,
                               settings.agency)
        attachments = tuple(Attachment.from_json(a) for a in record.attachments or ())
        message = build_email(content, sender=settings.smtp_from, to=record.address,
                              message_id=message_id_for(record.id, settings.smtp_from),
                              attachments=attachments,
                              headers={"X-Antrean-Notification": str(record.id)})
        if settings.outbox:
            runtime.outbox.send_email(message, record.id, handover)
        elif runtime.smtp is not None:
            runtime.smtp.send(message, settings.smtp_from, record.address, handover)
        else:
            raise DeliveryError("no SMTP server configured")
    elif record.channel == "sms":
        sms_text = render_sms(record.template, record.context, settings.timezone,
                              settings.agency)
        if settings.outbox:
            runtime.outbox.send_sms(record.address, sms_text, record.id, handover)
        elif runtime.sms is not None:
            runtime.sms.send(record.address, sms_text, f"antrean-{record.id}", handover)
        else:
            raise DeliveryError("no SMS gateway configured")
    else:
        raise UnsafeMessage(f"unknown channel {record.channel!r}")
    return transport
