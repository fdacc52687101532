"""registrants: who is on the roster; bookings: when the person was told

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before this revision came from roster imports or from bookings;
    # they cannot be told apart any more, so they keep counting as the roster.
    with op.batch_alter_table("registrants") as batch:
        batch.add_column(sa.Column("on_roster", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("told_at", sa.DateTime(timezone=True), nullable=True))
    # A visitor's own booking was confirmed when it was made. Bookings the scheduler
    # made stay untold: they get no reminder until the person is told their slot.
    op.execute("UPDATE bookings SET told_at = created_at WHERE source = 'self'")


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("told_at")
    with op.batch_alter_table("registrants") as batch:
        batch.drop_column("on_roster")
