"""Settings for test apps built in the test process."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from portal.settings import Settings
from tests.support.servers import CHEAP_PASSWORDS
from waitroom.config import RoomConfig


def make_settings(redis_url: str, database_url: str, tmp_path: Path, *,
                  job_redis_url: str | None = None, **room: object) -> Settings:
    """Settings for a test app: no ticker (tests tick when they mean to)."""
    return replace(
        Settings.from_env({"ANTREAN_ENV": "test", "ANTREAN_VAR_DIR": str(tmp_path / "var"),
                           **CHEAP_PASSWORDS}),
        redis_url=redis_url,
        job_redis_url=job_redis_url,
        database_url=database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        run_ticker=False,
        join_burst=1000,
        join_rate_per_minute=1000,
        room_defaults=RoomConfig().changed(**room) if room else RoomConfig(),
    )

