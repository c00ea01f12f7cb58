"""Completion and publication of a venue (公布), and the pushes they cause.

Pushes are written into the outbox in the same transaction as their cause; the dedupe keys
make a completion announcement or a result push happen once per venue however often the
code path runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.catalog import VenueSpec
from handlers.context import Context
from handlers.errors import BotError
from handlers.messages import OutboundMessage, platform_named
from handlers.pushes import enqueue
from handlers.results import venue_complete
from handlers.standings import VenueTable, ranking_text, spec_table, venue_table
from handlers.text import paginate
from handlers.venues import venue_name
from storage.meta import CATALOG, counter
from storage.models import Venue
from storage.outbox_intent import PICTURE, Intent
from storage.people import group_by_id, group_by_key
from storage.scores import (
    lock_venue,
    mark_completed,
    sheet_counts,
    venue_state,
    writers_take_turns,
)
from storage.venue_events import count_venue_events, record_venue_event


def after_scoring(ctx: Context, venue: VenueSpec, auto_publish: bool) -> str:
    """Announce the completion of ``venue`` once, if every sheet is in and nobody completed
    it before; publish it when it asks for that.

    Runs in the transaction of the score that may complete it, from the catalog's copy of the
    venue: the stored one (judges, contestants, rubric: four queries through the ORM) is
    loaded only to publish. The copy is the catalog read when the message was claimed; on a
    database server the config may have changed since (a 加选手 committed by another
    worker), and then the stored venue decides."""
    changed = ctx.catalog is None or counter(ctx.session, CATALOG) != ctx.catalog.generation
    stored = ctx.session.get(Venue, venue.id) if changed else None
    if changed and stored is None:
        return ""  # the change removed the venue
    if stored is None:
        table, group_id = spec_table(ctx.session, venue), venue.group_id
    else:  # the config changed since the claim, perhaps this too
        table, group_id = venue_table(ctx.session, stored), stored.group_id
        auto_publish = stored.auto_publish

    def to_publish() -> Venue:
        return stored or ctx.session.get_one(Venue, venue.id)

    if not table.complete:
        return ""
    if not mark_completed(ctx.session, venue.id, ctx.now):
        # Completed by a message committed since this one read the venue's state, which then
        # waited for an outlier that this message may have just corrected.
        if not auto_publish:
            return ""
        return publish_when_ready(ctx, to_publish())
    blocked = bool(table.unconfirmed_outliers())
    if auto_publish and blocked:
        # A 确认 or 更正 of the outlier committing at the same moment saw the venue
        # incomplete.
        look_again_after_commit(ctx, venue)
    if not auto_publish:
        then = "请主持人发送“公布”发布成绩。"
    elif blocked:
        then = "有评分与其他评委相差过大，评委确认或更正后成绩将自动公布。"
    else:
        then = "成绩已自动公布。"
    group = group_by_id(ctx.session, group_id)
    if group is not None:
        _push_group(
            ctx,
            group.key,
            group.platform,
            f"{table.venue}全部评分已完成（{len(table.judges)} 位评委 × "
            f"{len(table.contestants)} 位选手）。{then}",
            dedupe=f"complete:{venue.key}",
            title=f"{table.venue}评分完成",
        )
    note = f"🎉 {table.venue}全部评分已完成。"
    if auto_publish and not blocked:
        stored = locked(ctx, to_publish())
        if stored.auto_publish and stored.published_at is None:  # else its host came first
            publish(ctx, stored, table, action="auto_publish")
            note += "成绩已自动公布。"
    return note


def complete_meanwhile(ctx: Context, venues: Sequence[VenueSpec]) -> str:
    """Once a score's transaction has committed, each of ``venues``
    (``Context.recheck_after_commit``) that is complete as committed now, and was not
    completed by anyone, is completed as the completing score would have done it; the notes
    for that score's reply.

    Two judges' last scores committing side by side on a database server each count the
    other's tally as it was before: neither sees the venue complete. Whichever commits last
    finds it complete here; if both look at once, ``after_scoring`` completes it once. In
    the order of the venues' ids, so that two such looks take the venues' rows in one order.
    A config change since the message was claimed (a judge replaced: the catalog's copy
    counts the wrong judges) leaves the decision to ``after_scoring``, which reads the
    stored venue then. A completed auto-publishing venue is published if its outlying
    scores are all confirmed or corrected now: two judges' 确认 of the last two, side by
    side, each saw the other's still open."""
    notes = []
    changed = ctx.catalog is not None and counter(ctx.session, CATALOG) != ctx.catalog.generation
    for venue in sorted(venues, key=lambda v: v.id):
        state = venue_state(ctx.session, venue.id)
        if state.published_at is not None:
            continue
        if state.completed_at is not None:  # waiting on outlying scores, perhaps no more
            stored = ctx.session.get(Venue, venue.id) if state.auto_publish else None
            if stored is not None:
                notes.append(publish_when_ready(ctx, stored, lock_first=True))
            continue
        counts = sheet_counts(ctx.session, venue.id, venue.judge_ids)
        complete = venue_complete(len(venue.judges), len(venue.contestants), sum(counts.values()))
        if complete or changed:
            notes.append(after_scoring(ctx, venue, state.auto_publish))
    return "\n".join(note for note in notes if note)


def publish_when_ready(ctx: Context, venue: Venue, *, lock_first: bool = False) -> str:
    """After a 确认 or 更正: an auto-publishing venue that was only waiting for its outlying
    scores to be confirmed is published now. Returns a note for the reply, or "".

    Locks the venue's row only when it is ready as read without the lock, then reads it
    again; with ``lock_first`` (a look after a commit, in a transaction of its own) it locks
    at once and builds the table once."""
    if not lock_first and _ready(ctx, venue) is None:
        return ""
    table = _ready(ctx, locked(ctx, venue))
    if table is None:
        return ""  # published (or set to wait for its host) since this transaction read it
    publish(ctx, venue, table, action="auto_publish")
    return f"{table.venue}成绩已自动公布。"


def look_again_after_commit(ctx: Context, venue: VenueSpec) -> None:
    """On a database server, list ``venue`` in ``Context.recheck_after_commit``: another
    judge's message committing at the same moment may settle what this one saw open
    (``complete_meanwhile``). On SQLite writers take turns, and the last one sees it all."""
    if not writers_take_turns(ctx.session):
        ctx.recheck_after_commit.append(venue)


def _ready(ctx: Context, venue: Venue) -> VenueTable | None:
    """The table of an auto-publishing venue, completed and unpublished, that could be
    published now; None otherwise."""
    if not venue.auto_publish or venue.completed_at is None or venue.published_at is not None:
        return None
    table = venue_table(ctx.session, venue)
    return table if table.complete and not table.unconfirmed_outliers() else None


def publish(
    ctx: Context, venue: Venue, table: VenueTable | None = None, *, action: str = "publish"
) -> list[str]:
    """Lock the venue and push the result to ``results_to`` and the venue group.

    Returns the names of the groups the result goes to. Raises BotError when the venue is
    incomplete, already published, or has unconfirmed outlying scores.
    """
    locked(ctx, venue)
    table = table or venue_table(ctx.session, venue)
    if venue.published_at is not None:
        raise BotError(
            f"{table.venue}成绩已于{ctx.local(venue.published_at)}公布。"
            f"如需修改，请先发送：撤销公布 {table.venue}"
        )
    if not table.complete:
        missing = [
            f"{judge}（{len(table.missing_for(judge))} 位未评）"
            for judge in table.judges
            if table.missing_for(judge)
        ]
        raise BotError(
            f"{table.venue}还有评分未完成（已评 {table.scored}/{table.expected}）："
            f"{'、'.join(missing)}。全部完成后再公布；发送“进度 {table.venue}”可查看谁还没评。"
        )
    blocking = table.unconfirmed_outliers()
    if blocking:
        listing = "；".join(f"{j} → {c} {t} 分" for j, c, t in blocking)
        raise BotError(
            f"以下评分与其他评委相差过大，需评委本人发送“确认 选手名”或更正后才能公布：{listing}"
        )
    venue.published_at = ctx.now
    # A venue published again after 撤销公布 pushes again: the round is in the key.
    again = count_venue_events(ctx.session, venue.id, "unpublish")
    _record(ctx, venue, action)
    heading = "【成绩公布】" if not again else "【成绩重新公布】"
    title = f"{heading}{venue.title}·{table.venue}"
    text = ranking_text(table, heading=title)
    suffix = f":r{again}" if again else ""
    image = _picture_path(ctx, venue) if ctx.pictures else ""
    return _push_results(
        ctx, venue, text, kind="publish", suffix=suffix, image=image, heading=title
    )


def locked(ctx: Context, venue: Venue) -> Venue:
    """``venue``'s state read again with its row locked until the transaction ends. On a
    database server another 公布 or 撤销公布 may have committed since this transaction
    read it; two at once take turns here, and the second sees what the first did (on
    SQLite writers take turns anyway). Only the state is read again (``published_at``,
    ``completed_at``, ``auto_publish``), not the venue's relationships."""
    lock_venue(ctx.session, venue.id)
    ctx.session.refresh(venue, ["published_at", "completed_at", "auto_publish"])
    return venue


def _picture_path(ctx: Context, venue: Venue) -> str:
    """Where the outbox will draw the ranking picture, under the exports. Nothing is
    drawn here: a large venue's picture takes long, and this runs inside the message's
    transaction, which on SQLite every other message waits for."""
    stamp = ctx.now.astimezone(ctx.tz)
    return str(ctx.data_dir / "exports" / f"{venue.key}-排名-{stamp:%Y%m%d-%H%M%S}.png")


def unpublish(ctx: Context, venue: Venue) -> list[str]:
    """撤销公布: unlock a published venue and tell every group that received its result that
    it no longer stands. Returns the names of those groups."""
    name = venue_name(venue)
    when = locked(ctx, venue).published_at
    if when is None:
        raise BotError(f"{name}成绩尚未公布，无需撤销：评委可以直接发送“更正 选手 分数”修改。")
    published = ctx.local(when)
    venue.published_at = None
    _record(ctx, venue, "unpublish")
    round_no = count_venue_events(ctx.session, venue.id, "unpublish")
    text = (
        f"【撤销公布】{venue.title}·{name}于{published}公布的成绩已由{ctx.person.name}撤销，"
        "此前公布的排名作废。更正后将重新公布。"
    )
    return _push_results(ctx, venue, text, kind="unpublish", suffix=f":r{round_no}")


def _record(ctx: Context, venue: Venue, action: str) -> None:
    record_venue_event(
        ctx.session,
        venue_id=venue.id,
        action=action,
        person_id=ctx.person.id,
        now=ctx.now,
        inbound_id=ctx.inbound_id,
        source=ctx.origin,
    )


def _push_results(
    ctx: Context,
    venue: Venue,
    text: str,
    *,
    kind: str,
    suffix: str,
    image: str = "",
    heading: str = "",
) -> list[str]:
    """Push ``text`` to ``results_to`` and the venue group, keyed
    ``{kind}:{venue}:{group}{suffix}``, and after it to WeCom groups (whose robot shows
    pictures) the ranking picture to be drawn at ``image`` under ``heading``; returns the
    names of the groups."""
    sent_to: list[str] = []
    targets = list(dict.fromkeys([*venue.results_to, *([venue.group.key] if venue.group else [])]))
    title = f"{venue_name(venue)}成绩" + ("公布" if kind == "publish" else "撤销公布")
    for key in targets:
        group = group_by_key(ctx.session, key)
        if group is None or not group.active:
            continue
        dedupe = f"{kind}:{venue.key}:{group.key}{suffix}"
        _push_group(ctx, group.key, group.platform, text, dedupe=dedupe, title=title)
        if image and group.platform == "wecom":
            picture = OutboundMessage(
                platform="wecom",
                target_kind="group",
                target=group.key,
                text=f"{venue_name(venue)}成绩排名表",
                title=heading,  # drawn at the top of the picture
                image_path=image,
            )
            enqueue(
                ctx.session,
                picture,
                dedupe_key=f"picture:{venue.key}:{group.key}{suffix}",
                due_at=ctx.now,
                now=ctx.now,
                reason=f"picture:{venue.key}",
                intent=Intent(kind=PICTURE, subject=venue.key),
            )
        sent_to.append(group.name or group.key)
    return sent_to


def _push_group(
    ctx: Context, key: str, platform: str, text: str, *, dedupe: str, title: str
) -> None:
    """Enqueue ``text`` for a group, split under the platform's size limit if needed
    (a large venue's ranking can exceed WeCom's 2,048 bytes)."""
    target = platform_named(platform)
    head, *lines = text.split("\n")
    parts = paginate(head, [(line, ()) for line in lines], ctx.limit(target, False))
    for number, part in enumerate(parts, start=1):
        key_n = dedupe if number == 1 else f"{dedupe}:p{number}"
        enqueue(
            ctx.session,
            OutboundMessage(
                platform=target, target_kind="group", target=key, text=part.text, title=title
            ),
            dedupe_key=key_n,
            due_at=ctx.now,
            now=ctx.now,
            reason=dedupe,
        )
