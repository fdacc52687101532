"""Roster imports in the background: the stored file, its progress in Redis, the RQ job.

An upload becomes an *import*: the file is kept in the upload store as
``roster/<id>.csv`` (never served; on S3 every machine's worker reads it), its
progress and outcome live in one Redis key, and ``import_roster`` does the work,
in the RQ worker for large files or in the request for small ones. The whole
import is one database transaction written in batches: a failure halfway leaves
nothing half-imported, and running the same import again (a job retried after a
crash) gives the same rows, because each row is an upsert by NIK and a finished
import is not run twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from portal.admin import audit
from portal.form.uploads import (
    MissingUpload,
    UploadStore,
    UploadStoreUnavailable,
    upload_store,
)
from portal.i18n import N_
from portal.keys import PortalKeys
from portal.redis_clients import SyncRedisClient
from scheduler.roster import BadRow, RosterFormatError, RosterReport, checker_for, read_roster
from scheduler.store import import_registrants

log = logging.getLogger("antrean.admin.roster")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
BATCH_ROWS = 2000
# Counts only while it runs; once done the state holds example messages that quote
# phone numbers and e-mail addresses, so it then lives as long as the error report.
STATE_TTL_SECONDS = 24 * 3600
REPORT_TTL_SECONDS = 3600
JOB_TIMEOUT_SECONDS = 30 * 60
UNREADABLE = N_("Berkas tidak dapat dibaca sebagai daftar peserta: %(reason)s")
FILE_GONE = N_("Berkas unggahan tidak ditemukan lagi di server. Unggah ulang berkasnya.")
BROKEN = N_("Impor gagal karena galat di server; tidak ada baris yang disimpan. "
            "Coba unggah lagi, atau hubungi pengelola sistem bila terulang.")


@dataclass(frozen=True)
class RosterImport:
    """One upload's import: where it stands and, once done, what it did."""

    id: str
    filename: str
    suffix: str
    actor: str
    user_id: int | None
    today: str  # the upload's local date: NIK birth dates are checked against it
    state: str = QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    total: int | None = None  # None until the file has been read
    done: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0
    # (reason code, rows, first message) per reason, once done.
    reasons: list[tuple[str, int, str]] = field(default_factory=list)
    error: str | None = None
    error_args: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Whether the import has ended, well or not."""
        return self.state in (DONE, FAILED)

    @property
    def rows(self) -> int:
        """Rows read from the file (valid plus rejected)."""
        return self.inserted + self.updated + self.unchanged + self.bad

    @property
    def seconds(self) -> float | None:
        """How long the import itself took (not the wait in the queue)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 1)

    def progress(self) -> dict[str, Any]:
        """What the progress endpoint answers: no names, no NIKs."""
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "bad": self.bad}

    def to_json(self) -> str:
        """Serialise for Redis."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> RosterImport:
        """Read what ``to_json`` wrote."""
        values = json.loads(raw)
        values["reasons"] = [tuple(reason) for reason in values.get("reasons", [])]
        return cls(**values)


def new_import_id() -> str:
    """A random id: it names the stored file and appears in URLs (never personal data)."""
    return secrets.token_hex(16)


def valid_import_id(import_id: str) -> bool:
    """Whether ``import_id`` looks like one of ours (so it cannot walk the file tree)."""
    return len(import_id) == 32 and all(c in "0123456789abcdef" for c in import_id)


def state_key(prefix: str, import_id: str) -> str:
    """The Redis key of an import's state."""
    return PortalKeys(prefix).roster_import(import_id)


def report_key(prefix: str, import_id: str) -> str:
    """The Redis key of an import's row-by-row error report (CSV text)."""
    return PortalKeys(prefix).roster_report(import_id)


def stored_name(import_id: str, suffix: str) -> str:
    """The working file an uploaded roster waits in for its import (never served)."""
    if not valid_import_id(import_id) or suffix not in (".csv", ".xlsx"):
        raise ValueError("not a roster import")
    return f"roster/{import_id}{suffix}"


def store_upload(store: UploadStore, import_id: str, suffix: str, data: bytes) -> str:
    """Keep the uploaded bytes in the upload store, where every machine's worker finds them."""
    name = stored_name(import_id, suffix)
    store.keep(name, data)
    return name


def save_state(redis: SyncRedisClient, prefix: str, state: RosterImport) -> None:
    """Write an import's state; a finished one expires with its error report."""
    ttl = REPORT_TTL_SECONDS if state.finished else STATE_TTL_SECONDS
    redis.set(state_key(prefix, state.id), state.to_json(), ex=ttl)


def load_state(redis: SyncRedisClient, prefix: str, import_id: str) -> RosterImport | None:
    """Read an import's state, or None when unknown or expired."""
    raw = redis.get(state_key(prefix, import_id))
    return None if raw is None else RosterImport.from_json(raw)


def enqueue_import(queue: Queue, prefix: str, import_id: str) -> None:
    """Queue the import for the worker, ahead of notifications (an operator is watching)."""
    queue.enqueue(import_roster_job, import_id, prefix, job_id=f"roster-import-{import_id}",
                  at_front=True, job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=3600,
                  failure_ttl=7 * 86400, description=f"roster import {import_id}")


def import_roster_job(import_id: str, prefix: str) -> str:
    """What RQ runs: import a stored roster with this worker's database connections."""
    from rq import get_current_job

    from portal.notify.jobs import current_runtime

    job = get_current_job()
    assert job is not None, "import_roster_job runs inside an RQ worker"
    runtime = current_runtime()
    # The progress lives beside the room's keys, where the console reads it; the job
    # queue may be another Redis.
    redis = runtime.redis if runtime.redis is not None else job.connection
    state = import_roster(redis, runtime.sessions, upload_store(runtime.settings), prefix,
                         import_id)
    return "expired" if state is None else state.state


def import_roster(redis: SyncRedisClient, sessions: sessionmaker[Session], store: UploadStore,
                  prefix: str, import_id: str) -> RosterImport | None:
    """Run one import to its end and return its final state (None if it expired).

    A finished import is returned as it is; anything else starts from the file
    again, so a job retried after a crash redoes the work (one transaction: the
    crashed attempt wrote nothing).
    """
    state = load_state(redis, prefix, import_id)
    if state is None:
        for suffix in (".csv", ".xlsx"):  # expired unseen: drop the roster it left behind
            store.discard(stored_name(import_id, suffix))
        return None
    if state.state == DONE:
        return state
    state = replace(state, state=RUNNING, started_at=time.time(), finished_at=None, total=None,
                    done=0, inserted=0, updated=0, unchanged=0, bad=0, reasons=[], error=None,
                    error_args={})
    save_state(redis, prefix, state)
    name = stored_name(import_id, state.suffix)
    try:
        state = _import_file(redis, sessions, prefix, state, store.fetch(name))
    except MissingUpload:
        state = _failed(state, FILE_GONE)
    except RosterFormatError as exc:
        state = _failed(state, UNREADABLE, reason=str(exc))
    except Exception as exc:  # the database or the XLSX reader: the operator sees a message
        log.warning("roster import %s failed: %s", import_id, type(exc).__name__)
        state = _failed(state, BROKEN)
    save_state(redis, prefix, state)
    # The file holds the whole roster: once the import has ended it has no use left.
    with contextlib.suppress(UploadStoreUnavailable):  # the store is down: the file waits
        store.discard(name)
    return state


def _failed(state: RosterImport, message: str, **args: str) -> RosterImport:
    return replace(state, state=FAILED, finished_at=time.time(), error=message, error_args=args)


def _import_file(redis: SyncRedisClient, sessions: sessionmaker[Session], prefix: str,
                 state: RosterImport, data: bytes) -> RosterImport:
    table = read_roster(data, state.filename)
    state = replace(state, total=table.total_rows)
    save_state(redis, prefix, state)
    checker = checker_for(table, dt.date.fromisoformat(state.today))
    bad_rows: list[BadRow] = []
    with sessions() as session:
        for offset in range(0, table.total_rows, BATCH_ROWS):
            batch = table.records[offset:offset + BATCH_ROWS]
            report = checker.check(batch)
            counts = import_registrants(session, report)
            bad_rows.extend(report.bad_rows)
            state = replace(state, done=offset + len(batch),
                            inserted=state.inserted + counts.inserted,
                            updated=state.updated + counts.updated,
                            unchanged=state.unchanged + counts.unchanged, bad=len(bad_rows))
            save_state(redis, prefix, state)
        audit.record(session, state.actor, "roster.import", target=state.filename[:120],
                     after={"rows": state.rows, "inserted": state.inserted,
                            "updated": state.updated, "unchanged": state.unchanged,
                            "bad": state.bad, "import": state.id}, user_id=state.user_id)
        session.commit()
    if bad_rows:
        redis.set(report_key(prefix, state.id), RosterReport((), tuple(bad_rows)).bad_rows_csv(),
                  ex=REPORT_TTL_SECONDS)
    reasons: dict[str, tuple[int, str]] = {}
    for bad in bad_rows:
        number, example = reasons.get(bad.reason, (0, bad.message))
        reasons[bad.reason] = (number + 1, example)
    return replace(state, state=DONE, finished_at=time.time(),
                   reasons=[(reason, number, example)
                            for reason, (number, example) in sorted(reasons.items())])
