"""bindings and config edits: people and groups bind their platform ids in chat, organizers
change the campaign in chat (audited), and ``edubot reload`` reaches every instance

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=128), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("decided_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
    )
    op.create_index("ix_bindings_state_kind", "bindings", ["state", "kind"])
    op.create_table(
        "config_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("venue_key", sa.String(length=64), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=191), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("written_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_edits")),
    )
    op.create_index(op.f("ix_config_edits_state"), "config_edits", ["state"])
    # Bumped by `edubot reload`: every serve instance sees it move and reloads its file.
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Integer))
    op.bulk_insert(meta, [{"key": "config_reload", "value": 0}])


def downgrade() -> None:
    meta = sa.table("meta", sa.column("key", sa.String))
    op.execute(meta.delete().where(meta.c.key == "config_reload"))  # `key` is reserved in MySQL
    op.drop_index(op.f("ix_config_edits_state"), table_name="config_edits")
    op.drop_table("config_edits")
    op.drop_index("ix_bindings_state_kind", table_name="bindings")
    op.drop_table("bindings")
