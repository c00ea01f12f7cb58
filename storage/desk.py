"""Reading and writing the web desk's logins and board links (``storage.desk_tables``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.desk_tables import DeskBoardLink, DeskLogin
from storage.models import Person, Venue, VenueJudge


def add_login(
    session: Session,
    *,
    nonce: str,
    person_id: int,
    now: datetime,
    expires_at: datetime,
    source: str,
) -> None:
    """Record a login link just handed out (not yet used)."""
    session.add(
        DeskLogin(
            nonce=nonce,
            person_id=person_id,
            issued_at=now,
            expires_at=expires_at,
            source=source[:160],
            address="",
            agent="",
        )
    )
    session.flush()


def use_login(
    session: Session, nonce: str, *, now: datetime, address: str, agent: str
) -> int | None:
    """Mark the link ``nonce`` used and return its person's id; None when there is no such
    link, it was used already, or it expired. One UPDATE decides, so two confirmations of
    the same link racing each other open one session."""
    result = session.execute(
        update(DeskLogin)
        .where(DeskLogin.nonce == nonce, DeskLogin.used_at.is_(None), DeskLogin.expires_at > now)
        .values(used_at=now, address=address[:64], agent=agent[:255])
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(DeskLogin.person_id).where(DeskLogin.nonce == nonce))


@dataclass(frozen=True, slots=True)
class LoginState:
    """What a session cookie's login row says now."""

    person_id: int
    used_at: datetime | None
    ended_at: datetime | None
    person_active: bool


def login_state(session: Session, nonce: str) -> LoginState | None:
    """The login a session cookie names, with whether its person is still in the config."""
    row = session.execute(
        select(DeskLogin.person_id, DeskLogin.used_at, DeskLogin.ended_at, Person.active)
        .join(Person, Person.id == DeskLogin.person_id)
        .where(DeskLogin.nonce == nonce)
    ).first()
    return None if row is None else LoginState(*row)


def end_login(session: Session, nonce: str, now: datetime) -> None:
    """Log out: the session cookie stops working even before it expires."""
    session.execute(
        update(DeskLogin)
        .where(DeskLogin.nonce == nonce, DeskLogin.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class LoginLine:
    """One desk login as the audit lists it."""

    person: str
    issued_at: datetime
    used_at: datetime | None
    ended_at: datetime | None
    address: str
    source: str


def recent_logins(session: Session, limit: int = 50) -> list[LoginLine]:
    """The newest login links and what became of them, newest first."""
    rows = session.execute(
        select(
            Person.name,
            DeskLogin.issued_at,
            DeskLogin.used_at,
            DeskLogin.ended_at,
            DeskLogin.address,
            DeskLogin.source,
        )
        .join(Person, Person.id == DeskLogin.person_id)
        .order_by(DeskLogin.issued_at.desc(), DeskLogin.id.desc())
        .limit(limit)
    )
    return [LoginLine(*row) for row in rows]


def venues_of(session: Session, person_id: int) -> tuple[frozenset[int], frozenset[int]]:
    """Ids of the active venues the person hosts, and of those they judge: two small
    queries, without loading any venue's contestants (a desk request runs this)."""
    hosts = session.scalars(
        select(Venue.id).where(Venue.active.is_(True), Venue.host_id == person_id)
    )
    judges = session.scalars(
        select(VenueJudge.venue_id)
        .join(Venue, Venue.id == VenueJudge.venue_id)
        .where(Venue.active.is_(True), VenueJudge.person_id == person_id)
    )
    return frozenset(hosts), frozenset(judges)


def add_board_link(
    session: Session, *, nonce: str, venue_id: int, person_id: int, now: datetime
) -> int:
    """A new projector link for a venue's board; its id."""
    row = DeskBoardLink(nonce=nonce, venue_id=venue_id, created_by=person_id, created_at=now)
    session.add(row)
    session.flush()
    return row.id


def board_link_venue(session: Session, nonce: str) -> Venue | None:
    """The venue a projector link opens; None when revoked or unknown."""
    return session.scalar(
        select(Venue)
        .join(DeskBoardLink, DeskBoardLink.venue_id == Venue.id)
        .where(DeskBoardLink.nonce == nonce, DeskBoardLink.revoked_at.is_(None))
    )


@dataclass(frozen=True, slots=True)
class BoardLinkLine:
    """A projector link of a venue, as the venue page lists it."""

    id: int
    nonce: str
    created_by: str
    created_at: datetime


def board_links(session: Session, venue_id: int) -> list[BoardLinkLine]:
    """The venue's projector links that still work, oldest first."""
    rows = session.execute(
        select(DeskBoardLink.id, DeskBoardLink.nonce, Person.name, DeskBoardLink.created_at)
        .join(Person, Person.id == DeskBoardLink.created_by)
        .where(DeskBoardLink.venue_id == venue_id, DeskBoardLink.revoked_at.is_(None))
        .order_by(DeskBoardLink.id)
    )
    return [BoardLinkLine(*row) for row in rows]


def revoke_board_link(
    session: Session, link_id: int, venue_id: int, *, person_id: int, now: datetime
) -> bool:
    """Stop a projector link of ``venue_id`` from working; False when there was none."""
    result = session.execute(
        update(DeskBoardLink)
        .where(
            DeskBoardLink.id == link_id,
            DeskBoardLink.venue_id == venue_id,
            DeskBoardLink.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_by=person_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
