"""bookings: the revision number their calendar invites carry

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:00:00

Calendar apps replace an event only when a newer file for the same UID carries a
higher SEQUENCE. Bookings written before this revision start at 0: whether they
were moved since they were made is not recorded, and the next change lifts them to
1, above anything they were sent so far (which carried no SEQUENCE, read as 0).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("sequence")
