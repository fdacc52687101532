"""queue contacts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 23:24:34.618026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("queue_number", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_contacts")),
        sa.UniqueConstraint("room", "queue_number", name=op.f("uq_queue_contacts_room")),
    )


def downgrade() -> None:
    op.drop_table("queue_contacts")
