"""What a handler gets: the sender, the message, the time, and a session to work in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from handlers.catalog import Catalog, VenueSpec
from handlers.messages import InboundMessage
from storage.models import Group

if TYPE_CHECKING:
    from handlers.phases import Phase
from storage.people import Member

WEEKDAYS = "一二三四五六日"
PLATFORM_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉"}

TextLimit = Callable[[str, bool], int]
"""``(platform, markdown) -> bytes``: how long one pushed text may be."""


class DeskLinks(Protocol):
    """How the web desk's signed links are made (``bot.desk.tokens``)."""

    @property
    def link_minutes(self) -> int:
        """How long a login link works."""
        ...

    def login_url(self, nonce: str, now: datetime) -> str:
        """The one-time login link for the login row ``nonce``, handed out at ``now``."""
        ...

    def board_url(self, nonce: str) -> str:
        """The projector link for the board-link row ``nonce``."""
        ...


@dataclass(frozen=True, slots=True)
class Context:
    """One inbound message being handled inside one database transaction."""

    session: Session
    person: Member
    message: InboundMessage
    now: datetime
    tz: ZoneInfo
    inbound_id: int | None = None
    data_dir: Path = Path("edubot-data")
    catalog: Catalog | None = None
    """The venue structure (the dispatcher's cached copy); loaded on demand without one."""
    text_limit: TextLimit | None = None
    """The platforms' byte budget for a pushed text; the runtime knows the platforms."""
    phases: tuple[Phase, ...] = ()
    """The campaigns' phases from the config (进度 says which one runs)."""
    oversees: frozenset[str] = frozenset()
    """The units the sender answers for (a 督学's schools, a 教育组 head's): 未交, 已交
    and 进度 show them these units."""
    desk: DeskLinks | None = None
    """The web desk's link maker; None when the desk is off (no ``link_secret``)."""
    pictures: bool = False
    """Whether 公布 also queues the ranking as a picture for WeCom groups; the outbox draws
    it when it sends (``bot.planning.pictures``), never the message's transaction."""
    recheck_after_commit: list[VenueSpec] = field(default_factory=list)
    """Venues to look at again once this message's transaction has committed, on a
    database server, where another judge's message may have been committing at the same
    moment, each unseen by the other (``handlers.publishing.complete_meanwhile``): a sheet
    that finished its judge's column in a venue that looked incomplete (the other last
    score), and a 更正, 确认 or completion that left an auto-publishing venue waiting on
    an outlying score (the 确认 or 更正 of the other one)."""

    def venues(self) -> Catalog:
        """The venue structure: the dispatcher's cached ``catalog``, else one read from the
        session now (a context built by hand, as in tests)."""
        return self.catalog if self.catalog is not None else Catalog.load(self.session, -1)

    def limit(self, platform: str, markdown: bool) -> int:
        """How many UTF-8 bytes a pushed text may have on ``platform`` (a group push)."""
        if self.text_limit is None:
            raise RuntimeError("the runtime did not give the context the platforms' limits")
        return self.text_limit(platform, markdown)

    @property
    def source(self) -> str:
        """Where a recorded change came from, for the audit trail."""
        return f"{self.message.platform}:{self.message.message_id}"

    @property
    def origin(self) -> str:
        """Where a recorded change came from, as people read it in the exported audit
        trail: ``瑞泉中学会场群（企业微信）`` or ``私聊（钉钉）``. The inbound message itself
        stays linked by ``inbound_id``."""
        platform = PLATFORM_NAMES.get(self.message.platform, self.message.platform)
        if self.message.chat_type != "group":
            return f"私聊（{platform}）"
        group_id = self.venues().group_by_chat.get(self.message.chat_id)
        group = self.session.get(Group, group_id) if group_id is not None else None
        name = (group.name or group.key) if group is not None else f"群 {self.message.chat_id}"
        return f"{name}（{platform}）"

    def local(self, when: datetime) -> str:
        """``2月13日（周日）08:00`` in the campaign's time zone, with the year when it is
        not this year."""
        return local_time(when, self.tz, self.now)


def local_time(when: datetime, tz: tzinfo, now: datetime | None = None) -> str:
    """``when`` as people read it in ``tz``, e.g. ``2月13日（周日）08:00``: the form of
    every time in the bot's texts; ``2022年2月13日（周日）08:00`` when ``when`` falls in
    another year than ``now`` (a deadline years ago must not read like this February's)."""
    here = when.astimezone(tz)
    year = f"{here.year}年" if now is not None and now.astimezone(tz).year != here.year else ""
    return f"{year}{here.month}月{here.day}日（周{WEEKDAYS[here.weekday()]}）{here:%H:%M}"
