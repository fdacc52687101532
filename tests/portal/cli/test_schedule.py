"""The operator's command line: import a roster, open a window, schedule, tell everyone."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import redis
from rq import Queue
from sqlalchemy import func, select

from portal.cli.main import main
from portal.db import create_db_engine, session_factory
from portal.keys import PortalKeys
from portal.notify.channels import list_outbox
from portal.notify.events import send_due_reminders
from portal.notify.models import Notification
from portal.settings import Settings
from scheduler.models import Booking, Slot
from tests.support import DATA
from tests.support.jobs import work_jobs
from waitroom.config import RoomConfig

SAMPLE = DATA / "roster-sample.csv"


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
    notify = settings.notify
    work_jobs(notify, redis_client)
    assert main(["schedule", "progress", batch.group(1)]) == 0
    progress = capsys.readouterr().out
    sent = int(re.search(r"terkirim (\d+)", progress).group(1))  # type: ignore[union-attr]
    assert "antre 0" in progress and "gagal 0" in progress
    outbox = list_outbox(notify.outbox_dir, limit=1000)
    assert len(outbox) == sent >= people  # everyone has a phone; many an e-mail too
    texts = "\n".join(entry.path.read_text(errors="replace") for entry in outbox)
    niks = [line.split(",", 1)[0] for line in roster.read_text().splitlines()[1:]]
    assert not [nik for nik in niks if nik in texts]  # a NIK is never in a message


def test_assign_asks_whether_to_tell_and_an_untold_booking_gets_no_reminder(
    database_url: str, redis_client: redis.Redis, redis_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:6]) + "\n",
                      encoding="utf-8")
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                        "VAR_DIR": str(tmp_path / "var"), "ENV": "test", "OUTBOX": "true"}.items():
        monkeypatch.setenv(f"ANTREAN_{name}", value)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert main(["roster", "import", str(roster)]) == 0
    assert main(["calendar", "set", "--start", tomorrow.isoformat(),
                 "--end", (tomorrow + dt.timedelta(days=3)).isoformat()]) == 0
    with pytest.raises(SystemExit) as unchosen:
        main(["schedule", "assign"])
    assert unchosen.value.code == 2
    assert "--notify" in capsys.readouterr().err
    assert main(["schedule", "assign", "--no-notify"]) == 0
    assert "batch" not in capsys.readouterr().out

    settings = Settings.from_env()
    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session:
            bookings = session.scalars(select(Booking)).all()
            assert bookings and all(booking.told_at is None for booking in bookings)
            # A minute before every slot, the reminder loop finds nothing to remind of.
            first = min(session.get(Slot, booking.slot_id).start  # type: ignore[union-attr]
                        for booking in bookings)
            send_due_reminders(session, Queue("antrean", connection=redis_client),
                               settings.notify, settings.room, first - dt.timedelta(minutes=1))
            session.commit()
            assert session.scalar(select(func.count()).select_from(Notification)) == 0
    finally:
        engine.dispose()


def test_calendar_set_takes_weights_by_date(
    database_url: str, redis_client: redis.Redis, redis_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTREAN_DATABASE_URL", database_url)
    monkeypatch.setenv("ANTREAN_REDIS_URL", redis_url)
    monkeypatch.setenv("ANTREAN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ANTREAN_ENV", "test")
    first = dt.date.today() + dt.timedelta(days=1)
    second, third = first + dt.timedelta(days=1), first + dt.timedelta(days=2)
    window = ["calendar", "set", "--start", first.isoformat(), "--end", third.isoformat(),
              "--hours", "08:00-10:00", "--holiday-weight", "1"]
    assert main([*window, "--weight", f"{second}=0", "--weight", f"{third}=2"]) == 0
    capsys.readouterr()
    assert main(["calendar", "show"]) == 0
    shown = capsys.readouterr().out
    assert f"Bobot per tanggal: {second} = 0, {third} = 2" in shown
    places = {line.split()[1]: int(line.split()[3]) for line in shown.splitlines()
              if re.match(r"\w+ \d{4}-\d{2}-\d{2} ", line)}
    # The closed day has no bookable slot left to list; the doubled one twice the places.
    assert second.isoformat() not in places
    assert places[third.isoformat()] >= 2 * places[first.isoformat()] > 0  # floor per slot
    for bad in (f"{second}=-1", f"{second}=11", f"{second}", "besok=2"):
        with pytest.raises(SystemExit):
            main([*window, "--weight", bad])
    with pytest.raises(SystemExit, match="di luar jendela"):
        main([*window, "--weight", f"{third + dt.timedelta(days=1)}=2"])


def test_the_planned_cap_and_assignment_hours_beat_the_live_cap(
    database_url: str, redis_client: redis.Redis, redis_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:301]) + "\n",
                      encoding="utf-8")  # the header and 300 people
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                        "VAR_DIR": str(tmp_path / "var"), "ENV": "test",
                        "MAX_ACTIVE": "7"}.items():
        monkeypatch.setenv(f"ANTREAN_{name}", value)
    # An incident: the live cap is down to 1.
    keys = PortalKeys("antrean", "main").room_keys
    for field, value in RoomConfig().changed(max_active=1).to_redis().items():
        redis_client.hset(keys.key("config"), field, value)
    first = dt.date.today() + dt.timedelta(days=1)
    window = ["calendar", "set", "--start", first.isoformat(),
              "--end", (first + dt.timedelta(days=1)).isoformat()]
    assert main(["roster", "import", str(roster)]) == 0
    # A new calendar plans with the start-up cap (ANTREAN_MAX_ACTIVE), not the live one.
    assert main([*window, "--assign-hours", "08:00-20:00"]) == 0
    assert "Kapasitas rencana 7 pengguna aktif; jam penjadwalan 08:00-20:00" in \
        capsys.readouterr().out
    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session:
            # 0.3 * 7 * 30 / 20 = 3.15: 3 places in every slot of the day, night ones too.
            assert set(session.scalars(select(Slot.capacity))) == {3}
            slots = session.scalar(select(func.count()).select_from(Slot))
        # Options left out keep what was saved: the assignment hours stay 08:00-20:00.
        assert main([*window, "--planned-cap", "10"]) == 0
        assert main(["calendar", "show"]) == 0
        shown = capsys.readouterr().out
        assert "Kapasitas rencana: 10 pengguna aktif, porsi pemesan 0.3, sesi 20 menit; " \
            "jam penjadwalan 08:00-20:00" in shown
        assert main(["schedule", "assign", "--no-notify"]) == 2  # more people than places
        assigned = capsys.readouterr().out
        # 08:00-20:00 holds 24 slots a day of 4 places: 192 over two days.
        assert "192 dari" in assigned and "KURANG" in assigned
        assert "naikkan kapasitas rencana menjadi" in assigned
        with session_factory(engine)() as session:
            assert set(session.scalars(select(Slot.capacity))) == {4}
            assert session.scalar(select(func.count()).select_from(Slot)) == slots
            given = session.scalars(select(Slot).where(Slot.booked > 0)).all()
            zone = Settings.from_env().tz
            assert len(given) == 48 and all(
                dt.time(8) <= slot.start.astimezone(zone).time()
                and slot.end.astimezone(zone).time() <= dt.time(20) for slot in given)
    finally:
        engine.dispose()
    for bad in (["--planned-cap", "0"], ["--planned-cap", "banyak"], ["--booked-share", "0"],
                ["--session-minutes", "-5"], ["--assign-hours", "21:00-07:00"],
                ["--assign-hours", "pagi"]):
        with pytest.raises(SystemExit) as refused:
            main([*window, *bad])
        assert refused.value.code == 2, bad
