"""web desk: login links with their sessions and audit, and results-board links

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-03 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("ended_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_desk_logins_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_logins")),
        sa.UniqueConstraint("nonce", name=op.f("uq_desk_logins_nonce")),
    )
    with op.batch_alter_table("desk_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_logins_person_id"), ["person_id"], unique=False)
    op.create_table(
        "desk_board_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["people.id"], name=op.f("fk_desk_board_links_created_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["people.id"], name=op.f("fk_desk_board_links_revoked_by_people")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["forums.id"], name=op.f("fk_desk_board_links_venue_id_forums")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_board_links")),
        sa.UniqueConstraint("nonce", name=op.f("uq_desk_board_links_nonce")),
    )
    with op.batch_alter_table("desk_board_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desk_board_links_venue_id"), ["venue_id"], unique=False
        )


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop an index a foreign key
    # needs, so the indexes are not dropped first.
    op.drop_table("desk_board_links")
    op.drop_table("desk_logins")
