"""venue events: the audit of 公布 and 撤销公布

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "venue_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound_messages.id"],
            name=op.f("fk_venue_events_inbound_id_inbound_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_venue_events_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["forums.id"], name=op.f("fk_venue_events_venue_id_forums")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_events")),
    )
    with op.batch_alter_table("venue_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venue_events_venue_id"), ["venue_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("venue_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_events_venue_id"))
    op.drop_table("venue_events")
