"""The web desk's own tables: logins (one-time links, their sessions, the audit) and the
results-board links for projectors. Kept apart from ``storage.models`` (at its size cap);
``storage.models`` imports this module so that ``Base.metadata`` always holds them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class DeskLogin(Base):
    """A login link handed out by ``后台``, and the session it opened once confirmed.

    The row is the audit of every desk login: who asked, when, when the link was used, from
    which address and browser, and whether the session was ended early.
    """

    __tablename__ = "desk_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    """The link must be confirmed before this."""
    used_at: Mapped[datetime | None] = mapped_column()
    """When the link was confirmed (it opens no second session)."""
    ended_at: Mapped[datetime | None] = mapped_column()
    """Logged out (or ended by an organizer) before the session expired."""
    address: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(160), default="")
    """Where the link was asked for (``私聊（企业微信）``)."""


class DeskBoardLink(Base):
    """A link that opens one venue's results board (and nothing else) on a projector,
    without a login. It works until revoked."""

    __tablename__ = "desk_board_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("forums.id"), index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
