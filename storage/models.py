"""Typed SQLAlchemy models. The config is synced into these at start (``bot.config_sync``);
scores, submissions, the inbound log and the outbox are the service's own state."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import DecimalText, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base: constraint names from ``NAMING`` (so migrations can refer
    to them), aware-UTC ``datetime`` and exact ``Decimal`` columns on every database."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, Decimal: DecimalText}


class Person(Base):
    """Someone in ``[[people]]``. Removed from the config, the row stays, inactive and
    without platform ids: scores and submissions refer to it."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    unit: Mapped[str] = mapped_column(String(128), default="")
    roles: Mapped[str] = mapped_column(String(128), default="")
    """Comma-separated roles (judge,host,principal,leader,organizer,admin)."""
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    dingtalk_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    mobile: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def has_role(self, *roles: str) -> bool:
        """Whether the person has any of ``roles``."""
        mine = set(self.roles.split(",")) if self.roles else set()
        return bool(mine.intersection(roles))


class Meta(Base):
    """Named counters. ``catalog`` goes up whenever the config is synced, so every process
    knows when its in-memory copy of the venue structure is stale (``handlers.catalog``)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class ConnectionLease(Base):
    """Which ``edubot serve`` instance may hold a platform connection that allows only one
    (the WeCom robot's long connection); a holder that stops renewing loses it at
    ``expires_at`` (``storage.leases``)."""

    __tablename__ = "connection_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Group(Base):
    """A chat group of ``[[groups]]``: where pushes go and, by ``chat_id``, which venue a
    message written in it is about."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    platform: Mapped[str] = mapped_column(String(16))
    webhook: Mapped[str] = mapped_column(String(512), default="")
    secret: Mapped[str] = mapped_column(String(256), default="")
    chat_id: Mapped[str] = mapped_column(String(128), default="", index=True)
    organizers: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Rubric(Base):
    """A score sheet (评分表) of ``[[rubrics]]``, with its items in order."""

    __tablename__ = "rubrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    decimals: Mapped[int] = mapped_column(Integer, default=1)
    aggregate: Mapped[str] = mapped_column(String(16), default="mean")
    trim_min_judges: Mapped[int] = mapped_column(Integer, default=5)
    allow_total: Mapped[bool] = mapped_column(Boolean, default=False)
    outlier_threshold: Mapped[Decimal] = mapped_column(default=Decimal(15))
    tie_break: Mapped[list[str]] = mapped_column(JSON, default=list)
    items: Mapped[list[RubricItem]] = relationship(
        order_by="RubricItem.position", cascade="all, delete-orphan", lazy="selectin"
    )


class RubricItem(Base):
    """One row of a rubric: name, maximum and aliases, at its position."""

    __tablename__ = "rubric_items"
    __table_args__ = (UniqueConstraint("rubric_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    max: Mapped[Decimal] = mapped_column()
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)


class Venue(Base):
    """One venue (会场)."""

    __tablename__ = "forums"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime] = mapped_column()
    location: Mapped[str] = mapped_column(String(255), default="")
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    results_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    auto_publish: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    rubric: Mapped[Rubric] = relationship(lazy="joined")
    host: Mapped[Person | None] = relationship(lazy="joined")
    group: Mapped[Group | None] = relationship(lazy="joined")
    judges: Mapped[list[VenueJudge]] = relationship(
        order_by="VenueJudge.position", cascade="all, delete-orphan", lazy="selectin"
    )
    contestants: Mapped[list[Contestant]] = relationship(
        order_by="Contestant.position", lazy="selectin"
    )

    @property
    def locked(self) -> bool:
        """Published (公布): its scores can no longer change."""
        return self.published_at is not None


class VenueJudge(Base):
    """A judge of a venue, at the position the config lists them."""

    __tablename__ = "forum_judges"

    venue_id: Mapped[int] = mapped_column(
        "forum_id", ForeignKey("forums.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    scored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many of the venue's current contestants this judge has a sheet for: kept as
    sheets are written (``storage.scores``) and recounted when the venue's judges or
    contestants change, so "还剩 N 位" and completion cost the same in any venue size."""
    person: Mapped[Person] = relationship(lazy="joined")


class Contestant(Base):
    """A contestant of a venue. Removed from the config, the row stays with position 0,
    so its scores are kept."""

    __tablename__ = "contestants"
    __table_args__ = (UniqueConstraint("forum_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column("forum_id", ForeignKey("forums.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    """1-based order in the venue; 0 when removed from the config (kept for its scores)."""
    name: Mapped[str] = mapped_column(String(128))


class InboundMessageRow(Base):
    """Every authenticated message, once: the de-duplication key and the answer we gave."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("platform", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    chat_id: Mapped[str] = mapped_column(String(128), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="ok")
    """ok, refused (a BotError), unknown_person, error (a bug, answered politely)."""
    reply_text: Mapped[str] = mapped_column(Text, default="")


class ScoreSheet(Base):
    """One judge × one contestant: the current scores. Every revision is in ScoreRevision."""

    __tablename__ = "score_sheets"
    __table_args__ = (
        UniqueConstraint("forum_id", "judge_id", "contestant_id"),
        Index("ix_score_sheets_forum_contestant", "forum_id", "contestant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column("forum_id", ForeignKey("forums.id"), index=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    contestant_id: Mapped[int] = mapped_column(ForeignKey("contestants.id"))
    total: Mapped[Decimal] = mapped_column()
    items: Mapped[list[str] | None] = mapped_column(JSON)
    """Item scores as decimal strings in rubric order; None for a bare total."""
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column()
    """Set when the judge confirmed an outlying total (确认)."""


class ScoreRevision(Base):
    """The audit trail: who recorded what, when, from which message."""

    __tablename__ = "score_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("score_sheets.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    """score, correct or confirm."""
    total: Mapped[Decimal] = mapped_column()
    items: Mapped[list[str] | None] = mapped_column(JSON)
    judge_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    recorded_at: Mapped[datetime] = mapped_column()
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    source: Mapped[str] = mapped_column(String(160), default="")
    """Platform and message id, e.g. "wecom:4363689963896700987" or "chat"."""


class VenueEvent(Base):
    """The audit of a venue's publication: 公布 and 撤销公布, who, when, from where."""

    __tablename__ = "venue_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("forums.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    """publish or unpublish."""
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    """None when the bot published on its own (auto_publish)."""
    recorded_at: Mapped[datetime] = mapped_column()
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    source: Mapped[str] = mapped_column(String(160), default="")


class OutboxRow(Base):
    """A push waiting to be sent, being sent, or done. Written with its cause."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(191), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(512))
    rate_key: Mapped[str] = mapped_column(String(191), default="", index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending, sending, sent, dropped, failed."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(191), default="")
    """Why it exists, for people reading the table (``publish:ruiquan:leaders``)."""
    kind: Mapped[str | None] = mapped_column(String(32))
    """The intent, checked before sending: ``remind``, ``overdue``, ``venue``, ``digest``..."""
    subject: Mapped[str | None] = mapped_column(String(191))
    subject_due: Mapped[datetime | None] = mapped_column()
    part: Mapped[int | None] = mapped_column(Integer)


class OutboxRate(Base):
    """Per-robot sending state shared by every instance.

    Claimers lock the row of each robot they are about to use, so two instances cannot both
    see 19 sends in the window and send a 20th and 21st. ``blocked_until`` remembers
    DingTalk's 10-minute block (and WeCom's throttling) across restarts.
    """

    __tablename__ = "outbox_rate"

    rate_key: Mapped[str] = mapped_column(String(191), primary_key=True)
    blocked_until: Mapped[datetime | None] = mapped_column()


class Deadline(Base):
    """A report (上交材料) due by a time."""

    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    due_at: Mapped[datetime] = mapped_column()
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    format_note: Mapped[str] = mapped_column(Text, default="")
    remind_before: Mapped[list[str]] = mapped_column(JSON, default=list)
    escalate_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    workdays_only: Mapped[bool] = mapped_column(Boolean, default=False)
    campaign: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    series: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    """The repeating ``[[deadlines]]`` entry this period belongs to; ``""`` for a one-off."""
    period: Mapped[str] = mapped_column(String(32), default="", server_default="")
    opens_at: Mapped[datetime | None] = mapped_column()
    fields: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """A self-check's items: ``{"name", "choices", "aliases"}`` each (empty: a plain report)."""

    group: Mapped[Group | None] = relationship(lazy="joined")
    submitters: Mapped[list[DeadlineSubmitter]] = relationship(
        order_by="DeadlineSubmitter.position", cascade="all, delete-orphan", lazy="selectin"
    )


class DeadlineSubmitter(Base):
    """Who owes a deadline: a person, or a unit (any member of it may submit for it)."""

    __tablename__ = "deadline_submitters"
    __table_args__ = (UniqueConstraint("deadline_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    """person or unit."""
    name: Mapped[str] = mapped_column(String(128))


class Submission(Base):
    """One version of a hand-in. Every version is kept; the entry counts as 已交 when any
    version was on time (``handlers.deadlines.entry_states``)."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_deadline_owner", "deadline_id", "owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id"))
    owner: Mapped[str] = mapped_column(String(128))
    """The submitter entry it satisfies: the person's name, or the unit's name."""
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime] = mapped_column()
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str] = mapped_column(String(255), default="")
    file_path: Mapped[str] = mapped_column(String(512), default="")
    file_size: Mapped[int] = mapped_column(Integer, default=0)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    source: Mapped[str] = mapped_column(String(160), default="")
    review: Mapped[str] = mapped_column(String(16), default="", server_default="")
    """``""`` (not reviewed), ``returned`` (退回: the entry owes again) or ``accepted``."""
    review_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    values: Mapped[dict[str, str] | None] = mapped_column(JSON)
    """A self-check's answers by field name, this version's and the earlier ones merged."""


# Tables in modules of their own (this one is at its size cap), registered with Base.metadata.
from storage import deadline_events, desk_tables, outbox_attempts, setup_models  # noqa: E402, F401
