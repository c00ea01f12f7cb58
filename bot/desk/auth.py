"""Who may see what on the desk, decided on the server for every request.

| role             | campaign          | venue, board, 成绩汇总表 | deadlines, files | own sheets |
|------------------|-------------------|--------------------------|------------------|------------|
| organizer, admin | everything        | every venue              | every deadline   | —          |
| leader           | everything        | every venue              | every deadline   | —          |
| host             | their venues only | their venues             | no               | —          |
| judge            | no (own sheets)   | no                       | no               | yes        |

Only organizers, admins and a venue's host make or revoke its projector links. Only
organizers and admins open 活动设置 (``/desk/setup``: the campaign workbook in and out). A person
who left the config has no viewer at all: their session ends with the next request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from storage.desk import venues_of
from storage.models import Person, Venue
from storage.people import active_venues


class Refused(Exception):
    """403 (or another status) with a page that says why and what to do."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


SEE_ALL = frozenset({"organizer", "admin", "leader"})
MANAGE = frozenset({"organizer", "admin"})


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person behind a desk session, with what their role lets them reach."""

    id: int
    name: str
    roles: frozenset[str]
    hosts: frozenset[int]
    """Ids of the venues they host."""
    judges: frozenset[int]
    """Ids of the venues they judge."""
    login: str = ""
    """The login row's nonce (the session); "" for a projector link."""

    @property
    def sees_all(self) -> bool:
        """Organizers, admins and leaders see every venue and deadline."""
        return not self.roles.isdisjoint(SEE_ALL)

    @property
    def sees_campaign(self) -> bool:
        """The campaign page: everyone but judges who host nothing."""
        return self.sees_all or bool(self.hosts)

    def sees_venue(self, venue_id: int) -> bool:
        """The venue page, its board, image and 成绩汇总表."""
        return self.sees_all or venue_id in self.hosts

    @property
    def sees_deadlines(self) -> bool:
        """Deadline pages and the files submitted for them."""
        return self.sees_all

    @property
    def sees_logins(self) -> bool:
        """The desk's login audit: organizers and admins."""
        return not self.roles.isdisjoint(MANAGE)

    @property
    def sets_up(self) -> bool:
        """活动设置: download the campaign workbook and upload it into the config."""
        return not self.roles.isdisjoint(MANAGE)

    def manages_boards(self, venue_id: int) -> bool:
        """Making and revoking the venue's projector links."""
        return not self.roles.isdisjoint(MANAGE) or venue_id in self.hosts

    @property
    def has_sheets(self) -> bool:
        """The page of one's own score sheets."""
        return bool(self.judges)

    @property
    def role_text(self) -> str:
        """How the page header names the role."""
        if not self.roles.isdisjoint(MANAGE):
            return "组织者"
        if "leader" in self.roles:
            return "领导"
        if self.hosts:
            return "会场主持人"
        return "评委"


def viewer_of(session: Session, person_id: int, login: str = "") -> Viewer | None:
    """The viewer for a person still in the config; None once they were removed."""
    person = session.get(Person, person_id)
    if person is None or not person.active:
        return None
    hosts, judges = venues_of(session, person.id)
    return Viewer(
        id=person.id,
        name=person.name,
        roles=frozenset(r for r in person.roles.split(",") if r),
        hosts=hosts,
        judges=judges,
        login=login,
    )


def visible_venues(session: Session, viewer: Viewer) -> list[Venue]:
    """The active venues the viewer may open, in config order."""
    return [v for v in active_venues(session) if viewer.sees_venue(v.id)]
