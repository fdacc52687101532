"""identity: contacts that proved a NIK not on the roster, and contested claims

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_NOW = sa.text("(CURRENT_TIMESTAMP)")
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_bindings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("nik", sa.String(16), nullable=False, unique=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), server_default=_NOW,
                  nullable=False),
    )
    op.create_table(
        "identity_contests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("nik", sa.String(16), nullable=False, index=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), server_default=_NOW,
                  nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("identity_contests")
    op.drop_table("identity_bindings")
