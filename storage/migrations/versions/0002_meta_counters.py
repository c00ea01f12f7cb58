"""meta counters: the catalog generation bumped by every config sync

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    # The row exists from the start, so bumping it is one atomic UPDATE in any process.
    op.bulk_insert(meta, [{"key": "catalog", "value": 0}])


def downgrade() -> None:
    op.drop_table("meta")
