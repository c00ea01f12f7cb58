"""score tallies: each judge's count of scored contestants kept on forum_judges, and an
index to find a contestant's sheets, so a scoring message costs the same in any venue size

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-02 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None

_RECOUNT = """
UPDATE forum_judges SET scored = (
    SELECT count(*) FROM score_sheets
    JOIN contestants ON contestants.id = score_sheets.contestant_id
    WHERE score_sheets.forum_id = forum_judges.forum_id
      AND score_sheets.judge_id = forum_judges.person_id
      AND contestants.position > 0
)
"""


def upgrade() -> None:
    with op.batch_alter_table("forum_judges") as batch:
        batch.add_column(sa.Column("scored", sa.Integer(), server_default="0", nullable=False))
    op.create_index(
        "ix_score_sheets_forum_contestant", "score_sheets", ["forum_id", "contestant_id"]
    )
    op.execute(_RECOUNT)


def downgrade() -> None:
    op.drop_index("ix_score_sheets_forum_contestant", table_name="score_sheets")
    with op.batch_alter_table("forum_judges") as batch:
        batch.drop_column("scored")
