"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import portal.admin.models  # noqa: F401  (every table on the metadata, as env.py has it)
import portal.form.models  # noqa: F401
import portal.identity.models  # noqa: F401
import portal.notify.models  # noqa: F401
import portal.visitor.models  # noqa: F401
from portal.db import create_db_engine, upgrade
from scheduler.models import Base


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        upgrade(engine)  # a second upgrade is a no-op
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"registrants", "drafts", "submissions"} <= tables
