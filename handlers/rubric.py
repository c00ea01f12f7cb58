"""Reading a judge's numbers against a rubric (附件3). Pure: values in, values or a BotError out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from handlers.commands import ScoreValue
from handlers.errors import BotError

TOTAL_LABELS = ("总分", "总", "合计", "总计")


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """One rubric row."""

    name: str
    max: Decimal
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RubricSpec:
    """The rules a score sheet is checked and aggregated with."""

    key: str
    name: str
    items: tuple[ItemSpec, ...]
    decimals: int = 1
    aggregate: str = "mean"
    trim_min_judges: int = 5
    allow_total: bool = False
    outlier_threshold: Decimal = Decimal(15)
    tie_break: tuple[str, ...] = ()

    @property
    def total_max(self) -> Decimal:
        """The highest total a judge can give: the sum of the items' maxima (a bare total is
        checked against it)."""
        return sum((item.max for item in self.items), Decimal(0))


@dataclass(frozen=True, slots=True)
class SheetScores:
    """What one judge gave one contestant: item scores in rubric order, or a bare total."""

    total: Decimal
    items: tuple[Decimal, ...] | None

    @classmethod
    def from_stored(cls, total: Decimal, items: Sequence[str] | None) -> SheetScores:
        """A sheet as the database keeps it: the items as decimal strings (exact on every
        backend, see ``stored_items``)."""
        return cls(total, None if items is None else tuple(Decimal(v) for v in items))

    def stored_items(self) -> list[str] | None:
        """The items as the database keeps them."""
        return None if self.items is None else [format(v, "f") for v in self.items]

    def describe(self, rubric: RubricSpec) -> str:
        """``86 分（目标18 措施22 …）`` using each item's shortest alias as its label."""
        head = f"{fmt(self.total)} 分"
        if self.items is None:
            return f"{head}（总分）"
        parts = " ".join(
            f"{short_label(item)}{fmt(value)}"
            for item, value in zip(rubric.items, self.items, strict=True)
        )
        return f"{head}（{parts}）"


def fmt(value: Decimal) -> str:
    """A score as people write it: 18, 18.5 (never 18.0 or 1.8E+1)."""
    text = format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def short_label(item: ItemSpec) -> str:
    """The shortest alias, or the name: 目标 for 工作目标."""
    return min((item.name, *item.aliases), key=len)


def read_scores(
    rubric: RubricSpec, values: Sequence[ScoreValue], *, retry_hint: str
) -> SheetScores:
    """Check ``values`` against ``rubric``; raise ``BotError`` saying why and what to send.

    ``retry_hint`` is the command the judge should send instead, e.g. ``评分 瑞泉中学``. A score
    over its item's maximum is answered with the judge's own numbers and a ``？`` where the
    bad one was; other refusals give an example. Examples are never the maxima: a judge who
    copies an example must not silently record full marks.
    """
    example = f"{retry_hint} {' '.join(fmt(_example_value(item)) for item in rubric.items)}"
    if not values:
        raise BotError(f"没有收到分数。请发送，例如：{example}")
    for value in values:
        _check_precision(rubric, value, example)
    labelled = [v for v in values if v.label is not None]
    if labelled and len(labelled) != len(values):
        raise BotError(f"请全部按项目名或全部按顺序给分，不要混用。请重新发送，例如：{example}")

    if len(values) == 1 and (values[0].label is None or values[0].label in TOTAL_LABELS):
        if len(rubric.items) == 1:
            return _items(rubric, [values[0].value], example, retry_hint)
        return _bare_total(rubric, values[0].value, example)
    if labelled:
        return _items(rubric, _by_label(rubric, labelled, example), example, retry_hint)
    if len(values) != len(rubric.items):
        names = " ".join(item.name for item in rubric.items)
        raise BotError(
            f"{rubric.name or '评分表'}有 {len(rubric.items)} 项（{names}），收到 {len(values)} "
            f"个分数。请重新发送，例如：{example}"
        )
    return _items(rubric, [v.value for v in values], example, retry_hint)


def _example_value(item: ItemSpec) -> Decimal:
    return (item.max * Decimal("0.8")).to_integral_value(rounding=ROUND_FLOOR)


def _check_precision(rubric: RubricSpec, value: ScoreValue, example: str) -> None:
    places = max(1, rubric.decimals)
    # Count the decimals that matter: "18.50" is typed with two but is 18.5 (one place).
    # Plain text, not normalize(), which would round values longer than the context precision.
    decimals = format(value.value, "f").partition(".")[2].rstrip("0")
    if len(decimals) > places:
        raise BotError(
            f"分数最多保留 {places} 位小数，收到 {fmt(value.value)}。请重新发送，例如：{example}"
        )


def _bare_total(rubric: RubricSpec, total: Decimal, example: str) -> SheetScores:
    if not rubric.allow_total:
        raise BotError(f"本评分表需要逐项给分（{len(rubric.items)} 项）。请发送，例如：{example}")
    if total > rubric.total_max:
        raise BotError(
            f"总分满分 {fmt(rubric.total_max)}，收到 {fmt(total)}。请重新发送，例如：{example}"
        )
    return SheetScores(total=total, items=None)


def _items(rubric: RubricSpec, scores: Sequence[Decimal], example: str, hint: str) -> SheetScores:
    for index, (item, score) in enumerate(zip(rubric.items, scores, strict=True)):
        if score > item.max:
            mine = " ".join("？" if i == index else fmt(v) for i, v in enumerate(scores))
            raise BotError(
                f"{item.name}满分 {fmt(item.max)}，收到 {fmt(score)}。"
                f"请改正后重新发送：{hint} {mine}"
            )
    return SheetScores(total=sum(scores, Decimal(0)), items=tuple(scores))


def resolve_item(rubric: RubricSpec, label: str) -> int | None:
    """Index of the item ``label`` names: exact name or alias, else a unique partial match."""
    for index, item in enumerate(rubric.items):
        if label == item.name or label in item.aliases:
            return index
    partial = [
        index
        for index, item in enumerate(rubric.items)
        if any(label in text or text in label for text in (item.name, *item.aliases))
    ]
    return partial[0] if len(partial) == 1 else None


def _by_label(rubric: RubricSpec, labelled: Sequence[ScoreValue], example: str) -> list[Decimal]:
    found: dict[int, Decimal] = {}
    for value in labelled:
        assert value.label is not None
        index = resolve_item(rubric, value.label)
        if index is None:
            names = "、".join(short_label(item) for item in rubric.items)
            raise BotError(
                f"没有名为“{value.label}”的评分项（可用：{names}）。请重新发送，例如：{example}"
            )
        if index in found:
            raise BotError(f"{rubric.items[index].name}给了两次分。请重新发送，例如：{example}")
        found[index] = value.value
    missing = [item.name for i, item in enumerate(rubric.items) if i not in found]
    if missing:
        raise BotError(f"缺少：{'、'.join(missing)}。请重新发送，例如：{example}")
    return [found[i] for i in range(len(rubric.items))]
