"""Examples built from a person's own campaign: their venues, contestants, rubric items and
deadlines, never the sample's. Pure: values in, text out.

Every example is a message the bot accepts when it is sent back as it stands (in the order
帮助 lists them: a 更正 or 确认 follows the 评分 it corrects). Example scores are never
the maxima: a judge who copies one must not silently record full marks.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from handlers.rubric import ItemSpec, RubricSpec, fmt, short_label

EXAMPLE_SLOT = "〔示例〕"
"""Where a refusal from the pure parser wants an example; the handler, which knows the
judge's venue and rubric, puts the real one in (``fill_example``)."""

GENERIC_TARGET = "选手名或序号"


def example_value(item: ItemSpec, step: int = 0) -> Decimal:
    """80 % of the item's maximum (floored), ``step`` points lower: 40 → 32, 20 → 16."""
    base = (item.max * Decimal("0.8")).to_integral_value(rounding=ROUND_FLOOR)
    return max(Decimal(0), base - step)


def example_values(rubric: RubricSpec, step: int = 0) -> str:
    """``32 32 16``: one value per item, in rubric order."""
    return " ".join(fmt(example_value(item, step)) for item in rubric.items)


def labelled_values(rubric: RubricSpec, step: int = 0) -> str:
    """``设计32 实施32 效果16``: each item by its shortest name, in reverse order (any order
    is accepted, and reversing shows it)."""
    return " ".join(
        f"{short_label(item)}{fmt(example_value(item, step))}" for item in reversed(rubric.items)
    )


def example_total(rubric: RubricSpec) -> str:
    """A bare total below the maximum: the sum of the item examples."""
    return fmt(sum((example_value(item) for item in rubric.items), Decimal(0)))


def score_example(rubric: RubricSpec, target: str, verb: str = "评分", step: int = 0) -> str:
    """``评分 张三 32 32 16``."""
    return f"{verb} {target} {example_values(rubric, step)}"


def fill_example(text: str, example: str) -> str:
    """A parser refusal with the judge's own example in place of ``EXAMPLE_SLOT``."""
    return text.replace(EXAMPLE_SLOT, example)


def rubric_summary(rubric: RubricSpec) -> str:
    """``赛课评分表：教学设计 40 / 课堂实施 40 / 教学效果 20``."""
    items = " / ".join(f"{item.name} {fmt(item.max)}" for item in rubric.items)
    return f"{rubric.name or '评分表'}：{items}"
