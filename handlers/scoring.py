"""评分 / 打分 / 更正 and 确认: a judge records scores, one line at a time."""

from __future__ import annotations

from decimal import Decimal

from bot.errors import BotError
from bot.messages import Reply
from handlers.commands import Confirm, LineError, Score, ScoreLine
from handlers.context import Context
from handlers.publishing import after_scoring
from handlers.results import outliers
from handlers.rubric import SheetScores, fmt, read_scores
from handlers.venues import current_contestants, resolve_judge_target, rubric_spec, venue_name
from storage.models import Contestant, Forum
from storage.scores import (
    confirm_sheet,
    contestant_totals,
    count_sheets,
    get_sheet,
    record_sheet,
)

MAX_LINES = 100
USAGE = "请按评分表顺序发送分数，例如：评分 瑞泉中学 18 22 17 20 9（可一次发多行，每行一位选手）"


def handle_score(ctx: Context, command: Score) -> Reply:
    """Each line is accepted or refused on its own; refused lines record nothing."""
    if not command.lines:
        raise BotError(USAGE)
    if len(command.lines) > MAX_LINES:
        # One message is one transaction; thousands of lines would hold the write lock
        # (on SQLite, the whole database) for seconds while other judges wait.
        raise BotError(
            f"一条消息最多评 {MAX_LINES} 行，收到 {len(command.lines)} 行。请分几条发送。"
        )
    answers: list[str] = []
    touched: dict[int, Forum] = {}
    for line in command.lines:
        if isinstance(line, LineError):
            answers.append(_prefix(command, line.line_no, line.reason))
            continue
        try:
            with ctx.session.begin_nested():
                forum, text = _score_line(ctx, line, correction=command.correction)
            touched[forum.id] = forum
            answers.append(text)
        except BotError as refusal:
            answers.append(_prefix(command, line.line_no, refusal.message))
    if not touched:
        # Nothing was recorded: a refusal, so the inbound log says "refused".
        raise BotError("\n".join(answers))
    notes = [after_scoring(ctx, forum) for forum in touched.values()]
    return Reply("\n".join(answers + [n for n in notes if n]))


def _prefix(command: Score, line_no: int, text: str) -> str:
    return f"第{line_no}行：{text}" if len(command.lines) > 1 else text


def _score_line(ctx: Context, line: ScoreLine, *, correction: bool) -> tuple[Forum, str]:
    forum, contestant = resolve_judge_target(ctx, line.target)
    word = "更正" if correction else "评分"
    if forum.locked:
        raise BotError(
            f"{venue_name(forum)}成绩已于{ctx.local(forum.published_at or ctx.now)}公布并锁定，"
            "不再接受评分。如需改分请联系主持人。"
        )
    rubric = rubric_spec(forum)
    scores = read_scores(rubric, line.values, retry_hint=f"{word} {contestant.name}")
    existing = get_sheet(ctx.session, forum.id, ctx.person.id, contestant.id)
    if existing is not None and not correction:
        same = existing.total == scores.total and existing.items == _items(scores)
        if same:
            return forum, f"已记录过（未变化）{ctx.person.name} → {contestant.name}：" + (
                scores.describe(rubric)
            )
        old = SheetScores(existing.total, _decimals(existing.items))
        raise BotError(
            f"您已给 {contestant.name} 评过 {old.describe(rubric)}。如需修改请发送："
            f"更正 {contestant.name} {_numbers(scores)}"
        )
    if existing is None and correction:
        raise BotError(
            f"您还没有给 {contestant.name} 评分，无需更正。请发送：评分 {contestant.name} "
            f"{_numbers(scores)}"
        )
    before = None if existing is None else SheetScores(existing.total, _decimals(existing.items))
    record_sheet(
        ctx.session,
        forum=forum,
        judge=ctx.person,
        contestant=contestant,
        total=scores.total,
        items=_items(scores),
        action="correct" if correction else "score",
        now=ctx.now,
        inbound_id=ctx.inbound_id,
        source=ctx.source,
    )
    verb = "已更正" if correction else "已记录"
    text = f"{verb} {ctx.person.name} → {contestant.name}：{scores.describe(rubric)}"
    if before is not None:
        text += f"（原 {fmt(before.total)} 分）"
    text += _remaining(ctx, forum)
    text += _outlier_note(ctx, forum, contestant, scores.total)
    return forum, text


def _items(scores: SheetScores) -> list[str] | None:
    return None if scores.items is None else [format(v, "f") for v in scores.items]


def _decimals(items: list[str] | None) -> tuple[Decimal, ...] | None:
    return None if items is None else tuple(Decimal(v) for v in items)


def _numbers(scores: SheetScores) -> str:
    values = (scores.total,) if scores.items is None else scores.items
    return " ".join(fmt(v) for v in values)


def _remaining(ctx: Context, forum: Forum) -> str:
    # Counts, not the venue table: this runs for every score line.
    left = len(current_contestants(forum)) - count_sheets(ctx.session, forum, ctx.person.id)
    if left <= 0:
        return f" · 您在{venue_name(forum)}的评分已全部完成"
    return f" · 本会场您还剩 {left} 位未评"


def _outlier_note(ctx: Context, forum: Forum, contestant: Contestant, total: Decimal) -> str:
    judges = {j.person_id: j.person.name for j in forum.judges}
    totals = {
        judges[judge]: value
        for judge, value, _ in contestant_totals(ctx.session, forum.id, contestant.id)
        if judge in judges
    }
    threshold = forum.rubric.outlier_threshold
    if ctx.person.name not in outliers(totals, threshold):
        return ""
    return (
        f"\n⚠ 您给 {contestant.name} 的 {fmt(total)} 分与其他评委相差超过 "
        f"{fmt(threshold)} 分。请核对；如无误请发送：确认 {contestant.name}"
    )


def handle_confirm(ctx: Context, command: Confirm) -> Reply:
    """确认 <选手>: the judge stands by an outlying total so the venue can publish."""
    if not command.target:
        raise BotError("请写明要确认的选手，例如：确认 瑞泉中学")
    target = f"{command.venue} {command.target}" if command.venue else command.target
    forum, contestant = resolve_judge_target(ctx, target)
    sheet = get_sheet(ctx.session, forum.id, ctx.person.id, contestant.id)
    if sheet is None:
        raise BotError(f"您还没有给 {contestant.name} 评分。")
    if forum.locked:
        raise BotError(f"{venue_name(forum)}成绩已公布并锁定。")
    confirm_sheet(ctx.session, sheet, now=ctx.now, inbound_id=ctx.inbound_id, source=ctx.source)
    return Reply(f"已确认 {ctx.person.name} → {contestant.name}：{fmt(sheet.total)} 分")
