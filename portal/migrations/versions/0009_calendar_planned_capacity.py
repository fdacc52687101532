"""calendar: the planned cap that sizes the slots, and the hours assignment keeps to

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00

Slot capacity used to follow the room's live settings. Saved calendars now carry
their own planned numbers. Existing rows get the cap the processes start with
(``ANTREAN_MAX_ACTIVE`` where the migration runs, else the built-in 100), which is
what the live cap is until an operator changes it, and the built-in booked share
(0.3) and session length (20 minutes), which were never start-up settings. The
slots themselves are not touched: they keep the capacities they have until the
calendar is applied again, when the operator can check the planned numbers in the
console first. Assignment hours start as 07:00-21:00.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BUILT_IN_CAP = 100


def _start_up_cap() -> int:
    raw = os.environ.get("ANTREAN_MAX_ACTIVE", "").strip()
    try:
        cap = int(raw)
    except ValueError:
        return _BUILT_IN_CAP
    return cap if cap >= 1 else _BUILT_IN_CAP


def upgrade() -> None:
    with op.batch_alter_table("calendar_settings") as batch:
        batch.add_column(sa.Column("planned_max_active", sa.Integer(), nullable=False,
                                   server_default=sa.text(str(_BUILT_IN_CAP))))
        batch.add_column(sa.Column("planned_booked_share", sa.Float(), nullable=False,
                                   server_default=sa.text("0.3")))
        batch.add_column(sa.Column("planned_session_minutes", sa.Float(), nullable=False,
                                   server_default=sa.text("20")))
        batch.add_column(sa.Column("assign_start", sa.String(5), nullable=False,
                                   server_default=sa.text("'07:00'")))
        batch.add_column(sa.Column("assign_end", sa.String(5), nullable=False,
                                   server_default=sa.text("'21:00'")))
    cap = _start_up_cap()
    if cap != _BUILT_IN_CAP:
        op.execute(sa.text("UPDATE calendar_settings SET planned_max_active = :cap")
                   .bindparams(cap=cap))


def downgrade() -> None:
    with op.batch_alter_table("calendar_settings") as batch:
        for name in ("assign_end", "assign_start", "planned_session_minutes",
                     "planned_booked_share", "planned_max_active"):
            batch.drop_column(name)
