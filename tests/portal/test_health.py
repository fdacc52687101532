"""/readyz tells the truth: ready only with every store answering and the schema current."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import code_heads, create_db_engine, upgrade
from tests.support.apps import make_settings
from tests.support.servers import free_port


def ready(settings) -> tuple[int, dict[str, str], dict[str, str]]:
    with TestClient(create_app(settings)) as client:
        answer = client.get("/readyz")
    return answer.status_code, answer.json()["checks"], dict(answer.headers)


def test_ready_when_everything_answers(settings) -> None:
    status, checks, _ = ready(settings)
    assert status == 200
    assert checks == {"redis": "ok", "database": "ok", "schema": "ok", "uploads": "ok",
                      "job_queue": "ok"}


def test_not_ready_while_the_schema_is_behind_the_code(redis_client, redis_url,
                                                       tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_db_engine(url)
    upgrade(engine, "0008")  # a deployment whose new code came before its migration
    settings = make_settings(redis_url, url, tmp_path)
    status, checks, headers = ready(settings)
    assert status == 503 and headers["retry-after"]
    assert checks["database"] == "ok" and checks["schema"].startswith("at 0008, code needs ")
    assert set(checks["schema"].rsplit(" ", 1)[1].split(",")) == set(code_heads())
    upgrade(engine)
    engine.dispose()
    assert ready(settings)[0] == 200
    # An empty database (never migrated) is not ready either.
    empty = make_settings(redis_url, f"sqlite:///{tmp_path / 'empty.sqlite'}", tmp_path)
    status, checks, _ = ready(empty)
    assert status == 503 and checks["schema"].startswith("at none")


def test_not_ready_when_a_store_is_gone(settings, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    status, checks, _ = ready(replace(settings, var_dir=blocked))
    assert status == 503 and checks["uploads"] == "not writable"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    status, checks, _ = ready(replace(settings, redis_url=dead_redis))
    assert status == 503 and checks["redis"] != "ok" and checks["job_queue"] != "ok"
    dead_db = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    status, checks, _ = ready(replace(settings, database_url=dead_db))
    assert status == 503 and checks["database"] == "OperationalError"
