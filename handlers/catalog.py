"""The venue structure in memory: venues with their rubric, judges and contestants.

It comes from the config, synced into the database at start, and changes only when the
config is synced again, which bumps the ``catalog`` counter (``storage.meta``). Every message
reads that counter, one primary-key lookup, and reloads the catalog when it moved: several
``serve`` processes stay in step, and a score line no longer loads the venue graph through
the ORM. What changes while a venue runs (completed, published) is not in here; it is read
from the database where it is needed (``storage.scores.venue_state``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from handlers.rubric import ItemSpec, RubricSpec
from storage.meta import CATALOG, counter
from storage.models import Rubric, Venue
from storage.people import Member, active_members, active_venues, chat_groups


@dataclass(frozen=True, slots=True)
class Judge:
    """A judge of a venue: the person's id and configured name."""

    person_id: int
    name: str


@dataclass(frozen=True, slots=True)
class Entrant:
    """A contestant still in the config (position ≥ 1)."""

    id: int
    name: str
    position: int


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """One active venue (会场): the catalog's frozen copy of its stored row, with its
    rubric, judges and current contestants (``VenueConfig`` is the file's form,
    ``storage.models.Venue`` the row)."""

    id: int
    key: str
    title: str
    location: str
    group_id: int | None
    rubric: RubricSpec
    judges: tuple[Judge, ...]
    contestants: tuple[Entrant, ...]
    judge_ids: frozenset[int] = field(default=frozenset())

    @classmethod
    def of(cls, venue: Venue) -> VenueSpec:
        """Freeze a stored ``Venue`` into the catalog's view; contestants removed from the
        config (position 0) are left out."""
        judges = tuple(Judge(j.person_id, j.person.name) for j in venue.judges)
        return cls(
            id=venue.id,
            key=venue.key,
            title=venue.title,
            location=venue.location,
            group_id=venue.group_id,
            rubric=rubric_spec(venue.rubric),
            judges=judges,
            contestants=tuple(
                Entrant(c.id, c.name, c.position) for c in venue.contestants if c.position > 0
            ),
            judge_ids=frozenset(j.person_id for j in judges),
        )


def rubric_spec(rubric: Rubric) -> RubricSpec:
    """A stored ``Rubric`` as the ``RubricSpec`` that scoring and ranking are pure
    functions of."""
    return RubricSpec(
        key=rubric.key,
        name=rubric.name,
        items=tuple(ItemSpec(i.name, i.max, tuple(i.aliases)) for i in rubric.items),
        decimals=rubric.decimals,
        aggregate=rubric.aggregate,
        trim_min_judges=rubric.trim_min_judges,
        allow_total=rubric.allow_total,
        outlier_threshold=rubric.outlier_threshold,
        tie_break=tuple(rubric.tie_break),
    )


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every active venue in start order and every active person, with the lookups a
    message needs."""

    generation: int
    venues: tuple[VenueSpec, ...]
    group_by_chat: Mapping[str, int]
    _by_judge: Mapping[int, tuple[VenueSpec, ...]]
    _members: Mapping[tuple[str, str], Member]

    @classmethod
    def load(cls, session: Session, generation: int) -> Catalog:
        """Read every active venue, person and group chat from ``session``; ``generation``
        is the ``catalog`` counter they were read at (-1 for a copy nobody caches)."""
        venues = tuple(VenueSpec.of(f) for f in active_venues(session))
        members: dict[tuple[str, str], Member] = {}
        for member in active_members(session):
            if member.wecom_userid:
                members["wecom", member.wecom_userid.lower()] = member
            if member.dingtalk_userid:
                members["dingtalk", member.dingtalk_userid] = member
        by_judge: dict[int, list[VenueSpec]] = {}
        for venue in venues:
            for judge in venue.judges:
                by_judge.setdefault(judge.person_id, []).append(venue)
        return cls(
            generation=generation,
            venues=venues,
            group_by_chat=chat_groups(session),
            _by_judge={person: tuple(v) for person, v in by_judge.items()},
            _members=members,
        )

    def member(self, platform: str, user_id: str) -> Member | None:
        """The active person with this WeCom userid / DingTalk staffId. WeCom userids are
        unique regardless of case (WeCom ignores case when it checks), so a config that
        writes ``ZhangSan`` matches the ``zhangsan`` a callback carries."""
        return self._members.get((platform, user_id.lower() if platform == "wecom" else user_id))

    def judged_by(self, person_id: int) -> tuple[VenueSpec, ...]:
        """The active venues ``person_id`` judges, in start order; empty for anyone else."""
        return self._by_judge.get(person_id, ())

    def in_chat(self, chat_id: str) -> list[VenueSpec]:
        """The venues whose group this chat is."""
        group = self.group_by_chat.get(chat_id) if chat_id else None
        if group is None:
            return []
        return [v for v in self.venues if v.group_id == group]


class CatalogCache:
    """The current ``Catalog`` of one process, reloaded when the counter moves."""

    def __init__(self) -> None:
        self._current: Catalog | None = None
        self._lock = threading.Lock()

    def get(self, session: Session) -> Catalog:
        """The catalog as of ``session``'s transaction. The counter is read before the
        venues, so a sync that commits in between makes the next message reload again."""
        return self.at(session, counter(session, CATALOG))

    def cached(self) -> Catalog | None:
        """The catalog loaded last (None before the first load), not checked against the
        counter: for a caller that reads the counter in a statement of its own."""
        return self._current

    def at(self, session: Session, generation: int) -> Catalog:
        """The catalog at counter value ``generation``, read just now in ``session``'s
        transaction: the cached one, or loaded again when the counter moved."""
        current = self._current
        if current is not None and current.generation == generation:
            return current
        fresh = Catalog.load(session, generation)
        with self._lock:
            if self._current is None or self._current.generation < generation:
                self._current = fresh
        return fresh
