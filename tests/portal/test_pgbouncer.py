"""PostgreSQL behind PgBouncer in transaction mode: with ANTREAN_DB_PGBOUNCER the
portal works through it; without, psycopg's prepared statements collide (the control)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import DatabaseOptions, create_db_engine, upgrade
from portal.settings import Settings
from tests.portal.form.test_receipts import submitted
from tests.support import pgbouncer as bouncer
from tests.support.apps import make_settings

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not bouncer.available(),
                                 reason="PgBouncer is not installed (Debian package pgbouncer)")]


@pytest.fixture
def bounced_url(postgres_server_url: str, tmp_path: Path) -> Iterator[str]:
    """The test database, emptied, behind PgBouncer with two server connections."""
    engine = create_engine(postgres_server_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    plain = postgres_server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with bouncer.pgbouncer(plain, pool_size=2) as url:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)


def _interleave(url: str, options: DatabaseOptions) -> int:
    """Three clients taking turns, one short transaction each, as web threads do;
    return how many statements failed."""
    engine = create_db_engine(url, options)
    failures = 0
    connections = [engine.connect() for _ in range(3)]
    try:
        for i in range(20):
            for connection in connections:
                try:
                    connection.execute(text("SELECT CAST(:i AS integer) + 1"), {"i": i})
                    connection.commit()
                except DBAPIError:
                    failures += 1
                    connection.rollback()
    finally:
        for connection in connections:
            connection.close()
        engine.dispose()
    return failures


def test_without_the_setting_prepared_statements_collide(bounced_url: str) -> None:
    assert _interleave(bounced_url, DatabaseOptions(pool_size=3)) > 0


def test_the_portal_runs_through_pgbouncer_in_transaction_mode(
    bounced_url: str, redis_client, redis_url: str, tmp_path: Path
) -> None:
    options = DatabaseOptions(pool_size=3, max_overflow=2, pgbouncer=True)
    assert _interleave(bounced_url, options) == 0
    engine = create_db_engine(bounced_url, options)
    upgrade(engine)  # migrations run through it too
    engine.dispose()
    settings: Settings = replace(make_settings(redis_url, bounced_url, tmp_path, max_active=2),
                                 database=options)
    with TestClient(create_app(settings)) as client:
        number = submitted(client)  # join, prove the NIK, draft, upload, submit
        for _ in range(12):  # the same statements again and again, past psycopg's threshold
            assert number in client.get("/kwitansi").text
        assert client.get("/readyz").status_code == 200


def test_pool_settings_are_read() -> None:
    settings = Settings.from_env({"ANTREAN_DB_POOL_SIZE": "3", "ANTREAN_DB_MAX_OVERFLOW": "0",
                                  "ANTREAN_DB_POOL_TIMEOUT": "2.5", "ANTREAN_DB_PGBOUNCER": "yes"})
    assert settings.database == DatabaseOptions(3, 0, 2.5, True)
    assert settings.notify.database == settings.database  # the worker pools the same way
    engine = create_db_engine("postgresql+psycopg://u@127.0.0.1:1/x", settings.database)
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    engine.dispose()
