"""Tables of the self-service campaign set-up (issue 19): people and groups binding their
platform ids in chat, and the organizers' audited day-of changes.

They live beside ``storage.models`` (which is at its size cap) on the same ``Base``; the
migrations' environment imports this module so Alembic sees them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import UTCDateTime

PENDING = "pending"
APPROVED = "approved"
REFUSED = "refused"
WRITTEN = "written"
"""A config edit that is in the TOML file now (``ConfigEdit.state``)."""
FAILED = "failed"
"""A config edit the file could not take (unwritable, or its venue gone): see its note. It
no longer holds reloads back; the next sync from the file undoes it."""


class Binding(Base):
    """A request to tie a platform account to a listed person (``kind="person"``, target =
    the person's name) or a chat to a ``[[groups]]`` entry (``kind="group"``, target = the
    group's key). Approved bindings are applied on top of the config at every sync, so they
    survive a changed or reloaded file that still lacks the id."""

    __tablename__ = "bindings"
    __table_args__ = (Index("ix_bindings_state_kind", "state", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    platform_id: Mapped[str] = mapped_column(String(128))
    """The sender's userid / staffId, or the group's chat id."""
    target: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(128), default="")
    via: Mapped[str] = mapped_column(String(16), default="name")
    """``name`` (waits for an organizer), ``mobile`` (approved at once) or ``group``."""
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(255), default="")


class ConfigEdit(Base):
    """An organizer's change made in chat (换评委, 加选手, 改时间): applied to the database at
    once, then written into the TOML file by the running service (``state`` pending →
    written), so the file stays the one source of truth."""

    __tablename__ = "config_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    venue_key: Mapped[str] = mapped_column(String(64))
    change: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(191), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(String(255), default="")
