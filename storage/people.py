"""Looking up people, groups and venues."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Group, Person, Venue, VenueJudge


@dataclass(frozen=True, slots=True)
class Member:
    """A person as configured, detached from any session: who sent a message. People
    change only when the config is synced, so ``handlers.catalog`` keeps them in memory."""

    id: int
    name: str
    unit: str
    roles: frozenset[str]
    wecom_userid: str | None
    dingtalk_userid: str | None
    mobile: str
    active: bool

    @classmethod
    def of(cls, person: Person) -> Member:
        """Copy ``person``'s values out of the session."""
        return cls(
            id=person.id,
            name=person.name,
            unit=person.unit,
            roles=frozenset(person.roles.split(",")) if person.roles else frozenset(),
            wecom_userid=person.wecom_userid,
            dingtalk_userid=person.dingtalk_userid,
            mobile=person.mobile,
            active=person.active,
        )

    def has_role(self, *roles: str) -> bool:
        """Whether the person has any of ``roles``."""
        return not self.roles.isdisjoint(roles)


def active_members(session: Session) -> list[Member]:
    """Everyone in the current config, detached, by id (what the catalog caches)."""
    people = session.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.id))
    return [Member.of(p) for p in people]


def person_by_platform_id(session: Session, platform: str, user_id: str) -> Person | None:
    """The active person with this WeCom userid / DingTalk staffId."""
    column = Person.wecom_userid if platform == "wecom" else Person.dingtalk_userid
    return session.scalar(select(Person).where(column == user_id, Person.active.is_(True)))


def person_by_name(session: Session, name: str) -> Person | None:
    """The person with exactly this name, active or not."""
    return session.scalar(select(Person).where(Person.name == name))


def people_with_role(session: Session, role: str) -> list[Person]:
    """The active people with ``role``, by id."""
    people = session.scalars(select(Person).where(Person.active.is_(True)).order_by(Person.id))
    return [p for p in people if p.has_role(role)]


def chat_groups(session: Session) -> dict[str, int]:
    """Chat id → group id, for every active group whose chat id is known."""
    rows = session.execute(
        select(Group.chat_id, Group.id).where(Group.active.is_(True), Group.chat_id != "")
    ).all()
    return {chat: group for chat, group in rows}


def group_by_id(session: Session, group_id: int | None) -> Group | None:
    """The group with this id; None for no id."""
    return None if group_id is None else session.get(Group, group_id)


def group_by_key(session: Session, key: str) -> Group | None:
    """The group with this config key, active or not (callers check ``active``)."""
    return session.scalar(select(Group).where(Group.key == key))


def active_venues(session: Session) -> list[Venue]:
    """The venues in the current config, by start time."""
    return list(
        session.scalars(
            select(Venue).where(Venue.active.is_(True)).order_by(Venue.starts_at, Venue.id)
        )
    )


def venue_by_key(session: Session, key: str) -> Venue | None:
    """The venue with this key, active or not (callers check ``active``)."""
    return session.scalar(select(Venue).where(Venue.key == key))


def venues_judged_by(session: Session, person_id: int) -> list[Venue]:
    """The active venues ``person_id`` judges, by start time."""
    return list(
        session.scalars(
            select(Venue)
            .join(VenueJudge, VenueJudge.venue_id == Venue.id)
            .where(VenueJudge.person_id == person_id, Venue.active.is_(True))
            .order_by(Venue.starts_at, Venue.id)
        )
    )


def venues_hosted_by(session: Session, person_id: int) -> list[Venue]:
    """The active venues ``person_id`` hosts, by start time."""
    return list(
        session.scalars(
            select(Venue)
            .where(Venue.host_id == person_id, Venue.active.is_(True))
            .order_by(Venue.starts_at, Venue.id)
        )
    )
