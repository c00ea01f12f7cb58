"""outbox lanes: a push's intent as columns (kind, subject, subject_due, part), and every
request to a robot counted in outbox_attempts so failed attempts count toward its limit

Rows already queued get their intent from their ``reason`` text, the only place it was
kept: ``remind:deadline:<key>:<round>:<due>``, ``overdue:deadline:<key>:<due>:<group>``,
``remind:forum:<venue>:<label>:<start>``, ``digest:<key>:<period>:<group>`` (each with
``:p2``... for further parts); any other reason gives its prefix as the kind. A reason that
cannot be read keeps a kind and no subject: such a push is sent as written.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 03:10:00
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d)"
_PART = r"(?::p(?P<part>\d+))?"
_PATTERNS = (
    ("remind", re.compile(rf"^remind:deadline:(?P<key>.+):[^:]+:(?P<due>{_ISO}){_PART}$")),
    ("overdue", re.compile(rf"^overdue:deadline:(?P<key>.+):(?P<due>{_ISO}):[^:]+?{_PART}$")),
    ("venue", re.compile(rf"^remind:forum:(?P<key>[^:]+):.+?:(?P<due>{_ISO}){_PART}$")),
    ("digest", re.compile(rf"^digest:(?P<key>[^:]+):.+?{_PART}$")),
)


def parsed(reason: str, dedupe_key: str) -> dict[str, Any]:
    """The intent columns for an old row (``reason`` is the base key, ``dedupe_key`` carries
    the part where the reason does not)."""
    for kind, pattern in _PATTERNS:
        match = pattern.match(reason)
        if match is None:
            continue
        due = match.groupdict().get("due")
        when = datetime.fromisoformat(due).astimezone(UTC).replace(tzinfo=None) if due else None
        part = match["part"] or _part_of(dedupe_key)
        return {"kind": kind, "subject": match["key"][:191], "subject_due": when, "part": part}
    return {
        "kind": reason.split(":", 1)[0][:32],
        "subject": None,
        "subject_due": None,
        "part": None,
    }


def _part_of(dedupe_key: str) -> int | None:
    match = re.search(r":p(\d+)$", dedupe_key)
    return int(match[1]) if match else None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("subject", sa.String(length=191), nullable=True))
        batch.add_column(sa.Column("subject_due", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("part", sa.Integer(), nullable=True))
    op.create_table(
        "outbox_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_key", sa.String(length=191), nullable=False),
        sa.Column("attempted_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempts")),
    )
    op.create_index("ix_outbox_attempts_key_at", "outbox_attempts", ["rate_key", "attempted_at"])
    op.create_index(op.f("ix_outbox_attempts_attempted_at"), "outbox_attempts", ["attempted_at"])
    _backfill()


def _backfill() -> None:
    """Only rows that may still be sent need an intent to check; the rest get their kind."""
    bind = op.get_bind()
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer()),
        sa.column("reason", sa.String()),
        sa.column("dedupe_key", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("subject_due", sa.DateTime()),
        sa.column("part", sa.Integer()),
    )
    rows = bind.execute(sa.select(outbox.c.id, outbox.c.reason, outbox.c.dedupe_key)).all()
    values = [{"b_id": row.id, **parsed(row.reason or "", row.dedupe_key)} for row in rows]
    if values:
        bind.execute(
            outbox.update()
            .where(outbox.c.id == sa.bindparam("b_id"))
            .values(
                kind=sa.bindparam("kind"),
                subject=sa.bindparam("subject"),
                subject_due=sa.bindparam("subject_due"),
                part=sa.bindparam("part"),
            ),
            values,
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_attempts_attempted_at"), table_name="outbox_attempts")
    op.drop_index("ix_outbox_attempts_key_at", table_name="outbox_attempts")
    op.drop_table("outbox_attempts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("part")
        batch.drop_column("subject_due")
        batch.drop_column("subject")
        batch.drop_column("kind")
