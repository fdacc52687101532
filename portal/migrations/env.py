"""Alembic environment: runs on the engine handed in by portal.db."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import portal.admin.models  # noqa: F401  (registers every table on the metadata)
import portal.form.models  # noqa: F401
import portal.identity.models  # noqa: F401
import portal.notify.models  # noqa: F401
import portal.visitor.models  # noqa: F401
from scheduler.models import Base

config = context.config
target_metadata = Base.metadata

engine = config.attributes.get("engine")
if engine is None:
    from portal.settings import Settings

    engine = create_engine(Settings.from_env().database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
