"""The operator's command line: import a roster, open a window, schedule, tell everyone."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker

from portal.cli import main
from portal.db import create_db_engine, session_factory
from portal.notify import jobs
from portal.notify.channels import list_outbox
from portal.notify.settings import notify_settings_for
from portal.settings import Settings

SAMPLE = Path(__file__).resolve().parent / "data" / "roster-sample.csv"


def test_roster_import_then_assign_with_notices(
    database_url: str, redis_client: redis.Redis, redis_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:26]) + "\n",
                      encoding="utf-8")  # the header and 25 people
    monkeypatch.setenv("ANTREAN_DATABASE_URL", database_url)
    monkeypatch.setenv("ANTREAN_REDIS_URL", redis_url)
    monkeypatch.setenv("ANTREAN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ANTREAN_ENV", "test")
    monkeypatch.setenv("ANTREAN_OUTBOX", "true")
    monkeypatch.setenv("ANTREAN_NOTIFY_CHANNEL_RATE_PER_SECOND", "0")
    tomorrow = dt.date.today() + dt.timedelta(days=1)

    assert main(["roster", "import", str(roster)]) == 0
    imported = capsys.readouterr().out
    assert main(["calendar", "set", "--start", tomorrow.isoformat(),
                 "--end", (tomorrow + dt.timedelta(days=3)).isoformat()]) == 0
    assert main(["schedule", "assign", "--notify"]) == 0
    assigned = capsys.readouterr().out
    batch = re.search(r"batch (roster-\d+)", assigned)
    assert batch, assigned
    people = int(re.search(r"(\d+) dari (\d+) pendaftar", assigned).group(1))  # type: ignore[union-attr]
    valid = int(re.search(r"(\d+) sah", imported).group(1))  # type: ignore[union-attr]
    assert people == valid > 20

    settings = Settings.from_env()
    notify = notify_settings_for(settings)
    engine = create_db_engine(settings.database_url)
    jobs.install_runtime(jobs.build_runtime(notify, session_factory(engine), redis_client))
    try:
        SimpleWorker([Queue("antrean", connection=redis_client)],
                     connection=redis_client).work(burst=True)
    finally:
        jobs.install_runtime(None)
        engine.dispose()
    assert main(["schedule", "progress", batch.group(1)]) == 0
    progress = capsys.readouterr().out
    sent = int(re.search(r"terkirim (\d+)", progress).group(1))  # type: ignore[union-attr]
    assert "antre 0" in progress and "gagal 0" in progress
    outbox = list_outbox(notify.outbox_dir, limit=1000)
    assert len(outbox) == sent >= people  # everyone has a phone; many an e-mail too
    texts = "\n".join(entry.path.read_text(errors="replace") for entry in outbox)
    niks = [line.split(",", 1)[0] for line in roster.read_text().splitlines()[1:]]
    assert not [nik for nik in niks if nik in texts]  # a NIK is never in a message
