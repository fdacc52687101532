"""The SQL engine, sessions and migrations."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class DatabaseOptions:
    """How a process pools its PostgreSQL connections.

    Every process holds up to ``pool_size + max_overflow`` connections: a web worker,
    an RQ worker and the loop each count. Size them so that all processes on all
    machines stay under PostgreSQL's ``max_connections`` (100 by default), or put
    PgBouncer in between and set ``pgbouncer``.
    """

    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout: float = 10.0
    # PgBouncer in transaction mode hands each transaction to any server connection,
    # so psycopg's server-side prepared statements (made after 5 runs of a query)
    # would be looked for on the wrong one: with this set, none are made.
    pgbouncer: bool = False

    @property
    def most_connections(self) -> int:
        """The most connections one process opens."""
        return self.pool_size + self.max_overflow


def create_db_engine(url: str, options: DatabaseOptions | None = None) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so web threads do not collide."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, issue BEGIN: otherwise a
            # SAVEPOINT opened first ends the outer transaction when released.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # IMMEDIATE: take the write lock up front (waiting up to busy_timeout),
            # so a transaction that reads and then writes never fails half-way.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    options = options or DatabaseOptions()
    connect_args: dict[str, Any] = {"prepare_threshold": None} if options.pgbouncer else {}
    return create_engine(url, pool_pre_ping=True, pool_size=options.pool_size,
                         max_overflow=options.max_overflow, pool_timeout=options.pool_timeout,
                         connect_args=connect_args)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory the endpoints and jobs use."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine | None) -> Config:
    """An Alembic config that runs on ``engine`` (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@functools.cache
def code_heads() -> frozenset[str]:
    """The migration heads this code expects the schema to be at."""
    return frozenset(ScriptDirectory.from_config(alembic_config(None)).get_heads())


def schema_heads(connection: Connection) -> frozenset[str]:
    """The migration revisions the database says it is at (empty before the first)."""
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return frozenset(rows)
    except DBAPIError:
        connection.rollback()
        return frozenset()


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema up to ``revision`` (every branch head by default)."""
    command.upgrade(alembic_config(engine), revision)
