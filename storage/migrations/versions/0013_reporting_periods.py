"""reporting periods: deadlines gain their series, period and opening time; submissions a
review (退回/通过); organizers' actions on a deadline are audited in deadline_events

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(sa.Column("series", sa.String(64), server_default="", nullable=False))
        batch.add_column(sa.Column("period", sa.String(32), server_default="", nullable=False))
        batch.add_column(sa.Column("opens_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("fields", sa.JSON(), nullable=True))
        batch.create_index("ix_deadlines_series", ["series"])
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("review", sa.String(16), server_default="", nullable=False))
        batch.add_column(sa.Column("review_note", sa.Text(), server_default="", nullable=False))
        batch.add_column(sa.Column("values", sa.JSON(), nullable=True))
    op.create_table(
        "deadline_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deadline_id", sa.Integer(), sa.ForeignKey("deadlines.id"), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("submission_id", sa.Integer(), sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), sa.ForeignKey("inbound_messages.id"), nullable=True),
        sa.Column("source", sa.String(160), nullable=False),
    )
    op.create_index(
        "ix_deadline_events_deadline_owner", "deadline_events", ["deadline_id", "owner"]
    )


def downgrade() -> None:
    # The table's indexes go with it (MariaDB refuses to drop one a foreign key uses).
    op.drop_table("deadline_events")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("values")
        batch.drop_column("review_note")
        batch.drop_column("review")
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_index("ix_deadlines_series")
        batch.drop_column("fields")
        batch.drop_column("opens_at")
        batch.drop_column("period")
        batch.drop_column("series")
