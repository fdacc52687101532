"""calendar: per-date capacity weights

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Saved calendars had no per-date weights: '{}' keeps them exactly as they were.
    with op.batch_alter_table("calendar_settings") as batch:
        batch.add_column(sa.Column("weight_overrides", sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("calendar_settings") as batch:
        batch.drop_column("weight_overrides")
