"""评分 / 打分 / 更正 and 确认: a judge records scores, one line at a time."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from statistics import median

from handlers.catalog import Entrant, VenueSpec
from handlers.commands import Confirm, LineError, Score, ScoreLine, ScoreValue
from handlers.context import Context
from handlers.errors import BotError
from handlers.examples import EXAMPLE_SLOT, GENERIC_TARGET, fill_example, score_example
from handlers.messages import Reply
from handlers.publishing import after_scoring, look_again_after_commit, publish_when_ready
from handlers.pushes import push_to_person
from handlers.refusals import next_step
from handlers.results import outliers, venue_complete
from handlers.rubric import RubricSpec, SheetScores, fmt, read_scores
from handlers.standings import venue_table
from handlers.venues import not_a_judge, resolve_judge_target, venue_name
from storage.models import Venue
from storage.new_scores import score_if_new, scores_in_one_statement
from storage.people import venues_judged_by
from storage.scores import (
    RecordedSheet,
    StoredSheet,
    VenueState,
    confirm_sheet,
    counts_after,
    get_sheet,
    record_sheet,
    sheet_counts,
    state_and_sheet,
    totals_after,
    venue_state,
)

MAX_LINES = 100
USAGE = f"请按评分表顺序发送分数，例如：{EXAMPLE_SLOT}（可一次发多行，每行一位选手）"


@dataclass(frozen=True, slots=True)
class _Scored:
    """A recorded line: its venue, the venue's state and every judge's count after it."""

    venue: VenueSpec
    state: VenueState
    counts: dict[int, int]
    text: str
    added: bool = False
    """This line, or an earlier one of the message in the venue, added a sheet (not a
    correction, not a repeat): only that changes the counts."""
    corrected: bool = False
    """This line changed a sheet (更正): that can settle, or raise, an outlying score."""

    @property
    def complete(self) -> bool:
        """The venue is complete after this line."""
        judges, contestants = len(self.venue.judges), len(self.venue.contestants)
        return venue_complete(judges, contestants, sum(self.counts.values()))


def handle_score(ctx: Context, command: Score) -> Reply:
    """Each line is accepted or refused on its own; refused lines record nothing."""
    if not ctx.venues().judged_by(ctx.person.id):
        raise BotError(not_a_judge(ctx))  # before any example of how to score
    if not command.lines:
        raise BotError(fill_example(USAGE, own_example(ctx, command.correction)))
    if len(command.lines) > MAX_LINES:
        # One message is one transaction; thousands of lines would hold the write lock
        # (on SQLite, the whole database) for seconds while other judges wait.
        raise BotError(
            f"一条消息最多评 {MAX_LINES} 行，收到 {len(command.lines)} 行。请分几条发送。"
        )
    answers: list[str] = []
    latest: dict[int, _Scored] = {}
    for line in command.lines:
        if isinstance(line, LineError):
            reason = fill_example(line.reason, own_example(ctx, command.correction))
            answers.append(_prefix(command, line.line_no, reason))
            continue
        # A refused line must leave nothing behind. With one line the refusal is the
        # handler's, and the dispatcher rolls the whole transaction back: no savepoint.
        guard = ctx.session.begin_nested() if len(command.lines) > 1 else nullcontext()
        try:
            with guard:
                scored = _score_line(ctx, line, correction=command.correction)
            earlier = latest.get(scored.venue.id)
            if earlier is not None and earlier.added and not scored.added:
                scored = replace(scored, added=True)  # a repeat after a new sheet
            latest[scored.venue.id] = scored  # later lines only add to the counts
            answers.append(scored.text)
        except BotError as refusal:
            answers.append(_prefix(command, line.line_no, refusal.message))
    if not latest:
        # Nothing was recorded: a refusal, so the inbound log says "refused".
        raise BotError("\n".join(answers))
    # In the order of the venues' ids: a completion or a publish locks the venue's row,
    # and two messages must not take two venues' rows in opposite orders.
    after = {venue_id: _after(ctx, latest[venue_id]) for venue_id in sorted(latest)}
    notes = [after[venue_id] for venue_id in latest]
    return Reply("\n".join(answers + [n for n in notes if n]))


def _after(ctx: Context, scored: _Scored) -> str:
    """Counts decide; the stored venue is loaded only when it has just completed."""
    state = scored.state
    if state.completed_at is not None and state.published_at is None and state.auto_publish:
        # A correction that clears the last outlier lets an auto-publishing venue publish.
        venue = ctx.session.get(Venue, scored.venue.id)
        return "" if venue is None else _publish_when_ready(ctx, venue, scored.venue)
    if scored.state.completed_at is not None:
        return ""
    if not scored.complete:
        # A completing score committing at the same moment may be waiting on the outlier
        # this 更正 settles; or another judge's last score on this one's column.
        waiting = scored.corrected and state.auto_publish and state.published_at is None
        last = scored.added and _column_done(ctx, scored)
        if waiting or last:
            look_again_after_commit(ctx, scored.venue)
        return ""
    return after_scoring(ctx, scored.venue, state.auto_publish)


def _publish_when_ready(ctx: Context, venue: Venue, spec: VenueSpec) -> str:
    """``publish_when_ready`` after a 更正 or 确认. When an auto-publishing venue stays
    unpublished, on a database server it is looked at again after the commit: another
    judge's 确认 or 更正 of the other outlying score, or the score completing the venue,
    may be committing at the same moment, each unseen by the other
    (``complete_meanwhile``)."""
    note = publish_when_ready(ctx, venue)
    if not note and venue.auto_publish and venue.published_at is None:
        look_again_after_commit(ctx, spec)
    return note


def _column_done(ctx: Context, scored: _Scored) -> bool:
    """The sender has scored every contestant of the venue (their own count is exact: it
    comes from the tally row this transaction holds)."""
    return scored.counts.get(ctx.person.id, 0) >= len(scored.venue.contestants)


def own_example(ctx: Context, correction: bool) -> str:
    """``评分 张三 32 32 16``: the judge's own venue (this chat's, else their first), its
    first contestant and rubric; a generic form for someone who judges nowhere."""
    verb = "更正" if correction else "评分"
    found = _own_target(ctx)
    if found is None:
        return f"{verb} {GENERIC_TARGET} 各项分数"
    venue, target = found
    return score_example(venue.rubric, target, verb)


def _own_target(ctx: Context) -> tuple[VenueSpec, str] | None:
    """The judge's example venue and how to name its first contestant there."""
    catalog = ctx.venues()
    judged = catalog.judged_by(ctx.person.id)
    here = [v for v in catalog.in_chat(ctx.message.chat_id) if v in judged]
    pool = here or list(judged)
    if not pool or not pool[0].contestants:
        return None
    venue = pool[0]
    prefix = "" if here or len(judged) == 1 else f"{venue_name(venue)} "
    return venue, f"{prefix}{venue.contestants[0].name}"


def _prefix(command: Score, line_no: int, text: str) -> str:
    return f"第{line_no}行：{text}" if len(command.lines) > 1 else text


def _score_line(ctx: Context, line: ScoreLine, *, correction: bool) -> _Scored:
    venue, contestant = resolve_judge_target(ctx, line.target)
    word = "更正" if correction else "评分"
    rubric = venue.rubric
    hint = f"{word} {contestant.name}"
    valid = None if correction else _valid_or_none(ctx, rubric, line.values, hint)
    state, existing, recorded = _first_read(ctx, venue, contestant, valid)
    if state.published_at is not None:
        raise BotError(
            f"{venue_name(venue)}成绩已于{ctx.local(state.published_at)}公布并锁定，"
            f"不再接受评分。{_unlock_hint(ctx, venue)}"
        )
    scores = valid if valid is not None else read_scores(rubric, line.values, retry_hint=hint)
    if existing is not None and not correction:
        same = existing.total == scores.total and existing.items == scores.stored_items()
        if same:
            return _Scored(
                venue,
                state,
                sheet_counts(ctx.session, venue.id, venue.judge_ids),
                f"已记录过（未变化）{ctx.person.name} → {contestant.name}："
                + scores.describe(rubric),
            )
        before = SheetScores.from_stored(existing.total, existing.items)
        raise BotError(
            f"您已给 {contestant.name} 评过 {before.describe(rubric)}。如需修改请发送："
            f"更正 {contestant.name} {_numbers(scores)}"
        )
    if existing is None and correction:
        raise BotError(
            f"您还没有给 {contestant.name} 评分，无需更正。请发送：评分 {contestant.name} "
            f"{_numbers(scores)}"
        )
    sheet = recorded or record_sheet(
        ctx.session,
        venue_id=venue.id,
        judge_id=ctx.person.id,
        contestant_id=contestant.id,
        total=scores.total,
        items=scores.stored_items(),
        action="correct" if correction else "score",
        now=ctx.now,
        inbound_id=ctx.inbound_id,
        source=ctx.origin,
        existing=existing,
    )
    verb = "已更正" if correction else "已记录"
    text = f"{verb} {ctx.person.name} → {contestant.name}：{scores.describe(rubric)}"
    if existing is not None:
        text += f"（原 {fmt(existing.total)} 分）"
    counts = counts_after(ctx.session, sheet, venue.id, venue.judge_ids)
    text += _remaining(venue, counts[ctx.person.id])
    previous = existing.total if existing is not None else None
    totals = totals_after(ctx.session, sheet, venue.id, contestant.id)
    text += _outlier_note(ctx, venue, contestant, totals, total=scores.total, previous=previous)
    return _Scored(venue, state, counts, text, added=existing is None, corrected=correction)


def _first_read(
    ctx: Context, venue: VenueSpec, contestant: Entrant, valid: SheetScores | None
) -> tuple[VenueState, StoredSheet | None, RecordedSheet | None]:
    """The venue's state and the judge's sheet for the contestant. With ``valid`` scores
    (PostgreSQL) the first score is written in the same statement, unless what it reads
    says otherwise: then, as without, nothing is written yet (the third value is None)."""
    if valid is None:
        return (*state_and_sheet(ctx.session, venue.id, ctx.person.id, contestant.id), None)
    return score_if_new(
        ctx.session,
        venue_id=venue.id,
        judge_id=ctx.person.id,
        contestant_id=contestant.id,
        total=valid.total,
        items=valid.stored_items(),
        now=ctx.now,
        inbound_id=ctx.inbound_id,
        source=ctx.origin,
    )


def _valid_or_none(
    ctx: Context, rubric: RubricSpec, values: Sequence[ScoreValue], hint: str
) -> SheetScores | None:
    """The scores, when they can be written together with the reads that decide whether
    they are (``storage.new_scores``, PostgreSQL) and are valid; None otherwise, and the
    line takes the usual path, which refuses in its own order (a published venue first)."""
    if not scores_in_one_statement(ctx.session):
        return None
    try:
        return read_scores(rubric, values, retry_hint=hint)
    except BotError:
        return None


def _unlock_hint(ctx: Context, venue: VenueSpec) -> str:
    """How a locked venue's scores can still change, and who can do it."""
    stored = ctx.session.get(Venue, venue.id)
    host = stored.host if stored is not None else None
    unlock = f"撤销公布 {venue_name(venue)}"
    if host is None or host.id == ctx.person.id or ctx.person.has_role("organizer", "admin"):
        return f"如需改分，请先发送：{unlock}，再发送更正。"
    return f"如需改分，请联系主持人{host.name}先发送：{unlock}，再发送更正。"


def _numbers(scores: SheetScores) -> str:
    values = (scores.total,) if scores.items is None else scores.items
    return " ".join(fmt(v) for v in values)


def _remaining(venue: VenueSpec, scored: int) -> str:
    left = len(venue.contestants) - scored
    if left <= 0:
        return f" · 您在{venue_name(venue)}的评分已全部完成"
    return f" · 本会场您还剩 {left} 位未评"


def _outlier_note(
    ctx: Context,
    venue: VenueSpec,
    contestant: Entrant,
    totals: list[tuple[int, Decimal, datetime | None]],
    *,
    total: Decimal,
    previous: Decimal | None,
) -> str:
    """The scorer's own warning; any other judge whom this score has just made an outlier
    is told at once by a private push (PRODUCT §4). ``totals``: (judge, total, confirmed
    at) of the contestant's sheets, this one included."""
    names = {j.person_id: j.name for j in venue.judges}
    rows = [r for r in totals if r[0] in names]
    after = {judge: value for judge, value, _ in rows}
    before = {judge: value for judge, value in after.items() if judge != ctx.person.id}
    if previous is not None:
        before[ctx.person.id] = previous
    threshold = venue.rubric.outlier_threshold
    flagged = outliers(after, threshold)
    flagged_before: list[int] = outliers(before, threshold)
    newly = set(flagged) - set(flagged_before)
    middle = fmt(Decimal(median(after.values()))) if after else ""
    for judge, value, confirmed_at in rows:
        if judge in newly and judge != ctx.person.id and confirmed_at is None:
            warn = outlier_warning(venue_name(venue), contestant.name, value, middle, threshold)
            push_to_person(ctx, judge, warn, key=f"outlier:{venue.key}:{contestant.id}:{judge}")
    if ctx.person.id not in flagged:
        return ""
    return "\n" + outlier_warning("", contestant.name, total, middle, threshold)


def outlier_warning(
    venue: str, contestant: str, total: Decimal, middle: str, threshold: Decimal
) -> str:
    """``⚠ 您给 X 的 60 分与各评委总分的中位数（86 分）相差超过 15 分。…``"""
    where = f"{venue}：" if venue else ""
    return (
        f"⚠ {where}您给 {contestant} 的 {fmt(total)} 分与各评委总分的中位数（{middle} 分）"
        f"相差超过 {fmt(threshold)} 分。请核对；如无误请发送：确认 {contestant}"
    )


def _confirm_usage(ctx: Context) -> str:
    """What 确认 is for, with the judge's own flagged scores as examples (or none)."""
    flagged = [
        (venue_name(venue), contestant, total)
        for venue in venues_judged_by(ctx.session, ctx.person.id)
        for judge, contestant, total in venue_table(ctx.session, venue).unconfirmed_outliers()
        if judge == ctx.person.name
    ]
    if not flagged:
        return f"“确认”用于分差过大时确认您给的分数无误；您目前没有需要确认的评分。{next_step(ctx)}"
    listing = "；".join(f"{v} {c} {fmt(t)} 分" for v, c, t in flagged)
    return f"请写明要确认的选手，例如：确认 {flagged[0][1]}（待确认：{listing}）"


def handle_confirm(ctx: Context, command: Confirm) -> Reply:
    """确认 <选手>: the judge stands by an outlying total so the venue can publish."""
    if not command.target:
        raise BotError(_confirm_usage(ctx))
    target = f"{command.venue} {command.target}" if command.venue else command.target
    venue, contestant = resolve_judge_target(ctx, target)
    sheet = get_sheet(ctx.session, venue.id, ctx.person.id, contestant.id)
    if sheet is None:
        example = score_example(venue.rubric, contestant.name)
        raise BotError(f"您还没有给 {contestant.name} 评分，无需确认。请先评分，例如：{example}")
    if venue_state(ctx.session, venue.id).locked:
        raise BotError(f"{venue_name(venue)}成绩已公布并锁定，无需确认。{_unlock_hint(ctx, venue)}")
    confirm_sheet(
        ctx.session,
        sheet,
        judge_id=ctx.person.id,
        now=ctx.now,
        inbound_id=ctx.inbound_id,
        source=ctx.origin,
    )
    text = f"已确认 {ctx.person.name} → {contestant.name}：{fmt(sheet.total)} 分"
    stored = ctx.session.get(Venue, venue.id)
    published = _publish_when_ready(ctx, stored, venue) if stored is not None else ""
    return Reply(f"{text}\n{published}" if published else text)
