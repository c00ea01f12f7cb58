"""Finding the venue and the contestant a judge means.

A judge names a contestant by full name, number (3 / 3号), a unique prefix or a unique
part of the name. A judge who sits on several venues either writes in that venue's group
or names the venue first (``评分 瑞泉中学会场 瑞泉中学共同体 18 …``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from handlers.catalog import Catalog, Entrant, VenueSpec
from handlers.context import Context
from handlers.errors import BotError
from handlers.refusals import ask_organizer
from storage.models import Contestant, Venue
from storage.people import active_venues

_NUMBER = re.compile(r"^(?:第)?(\d{1,3})号?$")


class Named(Protocol):
    """A venue as configured (``VenueSpec``) or as stored (``Venue``)."""

    @property
    def key(self) -> str:
        """The venue's key in the config (``ruiquan``)."""
        ...

    @property
    def title(self) -> str:
        """The title of the forum it is part of (学校管理论坛); venues may share it."""
        ...

    @property
    def location(self) -> str:
        """Where it takes place (瑞泉中学); ``""`` when not configured."""
        ...


V = TypeVar("V", bound=Named)


def venue_name(venue: Named) -> str:
    """How people call a venue: its location + 会场 (瑞泉中学会场), else its title."""
    return f"{venue.location}会场" if venue.location else venue.title


def current_contestants(venue: Venue) -> list[Contestant]:
    """The venue's contestants still in the config (position ≥ 1), in order."""
    return [c for c in venue.contestants if c.position > 0]


def judge_ids(venue: Venue) -> list[int]:
    """The person ids of the venue's judges, in config order."""
    return [j.person_id for j in venue.judges]


def match_venue(venues: Sequence[V], text: str) -> V | None:
    """The venue ``text`` names by key, venue name, location or title, or by a unique
    prefix of its name, location or key (unique matches only)."""
    text = text.strip()
    if not text:
        return None
    exact = [v for v in venues if text in (v.key, venue_name(v), v.location, v.title) and text]
    if len(exact) == 1:
        return exact[0]
    loose = [v for v in venues if v.location and text.removesuffix("会场") == v.location]
    if len(loose) == 1:
        return loose[0]
    # A unique prefix of the venue's name, location or key (排名 瑞泉), as for contestants.
    prefixed = [
        v
        for v in venues
        if any(n.startswith(text) for n in (venue_name(v), v.location, v.key) if n)
    ]
    return prefixed[0] if len(prefixed) == 1 else None


def find_venue_ref(ctx: Context, text: str) -> Venue | None:
    """The active venue ``text`` names (see ``match_venue``), read from the database."""
    return match_venue(active_venues(ctx.session), text)


def chat_venues(ctx: Context) -> list[Venue]:
    """The stored venues whose group this message was written in (the catalog decides)."""
    here = {v.id for v in ctx.venues().in_chat(ctx.message.chat_id)}
    return [v for v in active_venues(ctx.session) if v.id in here] if here else []


@dataclass(frozen=True, slots=True)
class ContestantMatch:
    """The contestant a reference names, or the candidates when it fits several (both
    empty: nobody)."""

    contestant: Entrant | None
    candidates: tuple[Entrant, ...] = ()


def match_contestant(venue: VenueSpec, ref: str) -> ContestantMatch:
    """Full name, then number (3, 3号, 第3号), then a unique prefix, then a unique part of
    the name; a reference that fits several contestants returns them as candidates."""
    ref = re.sub(r"\s+", "", ref)
    people = venue.contestants
    for contestant in people:
        if contestant.name == ref:
            return ContestantMatch(contestant)
    number = _NUMBER.match(ref)
    if number:
        position = int(number.group(1))
        found = [c for c in people if c.position == position]
        return ContestantMatch(found[0] if found else None)
    prefixed = [c for c in people if c.name.startswith(ref)]
    if len(prefixed) == 1:
        return ContestantMatch(prefixed[0])
    if prefixed:
        return ContestantMatch(None, tuple(prefixed))
    inside = [c for c in people if ref and ref in c.name]
    if len(inside) == 1:
        return ContestantMatch(inside[0])
    return ContestantMatch(None, tuple(inside))


def contestant_list(venue: VenueSpec) -> str:
    """The venue's contestants as ``1号张三、2号李四``, so a judge sees how to name them."""
    return "、".join(f"{c.position}号{c.name}" for c in venue.contestants)


def resolve_judge_target(ctx: Context, target: str) -> tuple[VenueSpec, Entrant]:
    """The (venue, contestant) a judge's score line refers to, or a BotError saying why not."""
    catalog = ctx.venues()
    venue_hint, contestant_ref = _split_venue(catalog.venues, target)
    mine = _my_venues(ctx, catalog, venue_hint)
    hits: list[tuple[VenueSpec, Entrant]] = []
    ambiguous: list[Entrant] = []
    for venue in mine:
        found = match_contestant(venue, contestant_ref)
        if found.contestant is not None:
            hits.append((venue, found.contestant))
        ambiguous.extend(found.candidates)
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        names = "、".join(venue_name(v) for v, _ in hits)
        raise BotError(
            f"您是多个会场的评委，“{contestant_ref}”在{names}都能对上。请写明会场，例如："
            f"评分 {venue_name(hits[0][0])} {hits[0][1].name} …"
        )
    if ambiguous:
        names = "、".join(c.name for c in ambiguous)
        raise BotError(f"“{contestant_ref}”能对上多位选手：{names}。请写全名或序号。")
    listing = "；".join(f"{venue_name(v)}：{contestant_list(v)}" for v in mine)
    raise BotError(f"没有找到选手“{contestant_ref}”。请写选手全名、前几个字或序号。{listing}")


def _split_venue(venues: Sequence[VenueSpec], target: str) -> tuple[VenueSpec | None, str]:
    """``瑞泉中学会场 杜桥中学`` → (that venue, ``杜桥中学``); no venue named: (None, all)."""
    words = target.split(" ")
    if len(words) > 1:
        hint = match_venue(venues, " ".join(words[:-1])) or match_venue(venues, words[0])
        if hint is not None:
            return hint, words[-1]
    return None, target.replace(" ", "")


def _my_venues(ctx: Context, catalog: Catalog, hint: VenueSpec | None) -> list[VenueSpec]:
    """The venues the score line may be for: the one named, else this chat's, else every
    venue the sender judges; only those the sender judges, or a BotError saying why."""
    person = ctx.person
    judged = catalog.judged_by(person.id)
    if not judged:
        raise BotError(not_a_judge(ctx))
    in_chat = catalog.in_chat(ctx.message.chat_id)
    candidates: Sequence[VenueSpec] = [hint] if hint is not None else (in_chat or judged)
    mine = [v for v in candidates if person.id in v.judge_ids]
    if not mine:
        names = "、".join(venue_name(v) for v in candidates)
        judges = "、".join(j.name for v in candidates for j in v.judges)
        own = judged[0]
        where = f"您的会场：{'、'.join(venue_name(v) for v in judged)}。"
        if own.contestants:
            example = f"评分 {venue_name(own)} {own.contestants[0].name} …"
            where += f"请在您的会场群里评分，或私聊写明会场，例如：{example}"
        raise BotError(f"您不是{names}的评委（本会场评委：{judges}），不能在这里评分。{where}")
    return mine


def not_a_judge(ctx: Context) -> str:
    """Why this person may not score: no venue at all, or none they judge."""
    if not ctx.venues().venues:
        return f"本活动还没有会场，暂时不能评分。{ask_organizer(ctx, '会场', '[[venues]]')}"
    fix = ask_organizer(ctx, "评委名单", "[[venues]] 的 judges")
    return f"{ctx.person.name}，您不是任何会场的评委，不能评分。{fix}"
