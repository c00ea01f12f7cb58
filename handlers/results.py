"""Results of a venue (PRODUCT §4). Pure: sheets in, standings out.

- a judge's total is the sum of item scores (or the bare total);
- a contestant's result is the mean over the judges who scored them, or a trimmed mean that
  drops one highest and one lowest when at least ``trim_min_judges`` scored;
- rounded half up with Decimal arithmetic to the rubric's decimals (84.25 → 84.3);
- complete when every judge has scored every contestant (``venue_complete``);
- ranked high to low on the rounded result; equal results share a rank and the next skips
  (1, 2, 2, 4), unless a configured tie-break chain separates them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from statistics import median
from typing import TypeVar

from handlers.rubric import RubricSpec, SheetScores, resolve_item

K = TypeVar("K")


def venue_complete(judges: int, contestants: int, sheets: int) -> bool:
    """A venue is complete when every judge has scored every contestant (PRODUCT §4).

    ``sheets`` counts the current judges' sheets for the current contestants; a venue with
    no judge or no contestant is never complete.
    """
    expected = judges * contestants
    return expected > 0 and sheets >= expected


def round_half_up(value: Decimal, decimals: int) -> Decimal:
    """84.25 → 84.3 at one decimal; never float ``round`` (which gives 84.2)."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def aggregate(totals: Sequence[Decimal], method: str, trim_min_judges: int) -> Decimal | None:
    """The unrounded result of ``totals``; None when nobody scored."""
    if not totals:
        return None
    values = sorted(totals)
    if method == "trimmed_mean" and len(values) >= trim_min_judges:
        values = values[1:-1]
    return sum(values, Decimal(0)) / Decimal(len(values))


def trimmed_away(
    totals: Sequence[Decimal | None], method: str, trim_min_judges: int
) -> tuple[int, ...]:
    """Which judges' totals ``aggregate`` leaves out: () for a plain mean, else the index of
    one lowest and one highest (the first lowest, the last highest, never the same judge)."""
    given = [(total, index) for index, total in enumerate(totals) if total is not None]
    if method != "trimmed_mean" or len(given) < max(trim_min_judges, 2):
        return ()
    ordered = sorted(given)
    return (ordered[0][1], ordered[-1][1])


@dataclass(frozen=True, slots=True)
class Standing:
    """One contestant's line of the 成绩汇总表."""

    contestant: str
    position: int
    """1-based order in the venue (the tie order)."""
    totals: tuple[Decimal | None, ...]
    """Each judge's total in judge order; None where that judge has not scored."""
    mean: Decimal | None
    result: Decimal | None
    """``mean`` rounded half up to the rubric's decimals: the published value."""
    rank: int | None
    dropped: tuple[int, ...] = ()
    """Judge indices of the totals a trimmed mean left out: the lowest, then the highest."""

    @property
    def scored_by(self) -> int:
        """How many judges have scored this contestant so far."""
        return sum(1 for total in self.totals if total is not None)


def standings(
    rubric: RubricSpec,
    contestants: Sequence[str],
    judges: Sequence[str],
    sheets: Mapping[tuple[str, str], SheetScores],
) -> list[Standing]:
    """Rank every contestant. ``sheets`` maps (contestant, judge) → scores.

    Returned in rank order; equal ranks and unscored contestants keep venue order.
    """
    rows: list[tuple[Standing, tuple[Decimal, ...]]] = []
    for position, name in enumerate(contestants, start=1):
        totals = tuple(
            sheet.total if (sheet := sheets.get((name, judge))) is not None else None
            for judge in judges
        )
        given = [total for total in totals if total is not None]
        mean = aggregate(given, rubric.aggregate, rubric.trim_min_judges)
        result = None if mean is None else round_half_up(mean, rubric.decimals)
        key = () if result is None else (result, *_tie_break(rubric, mean, name, judges, sheets))
        dropped = trimmed_away(totals, rubric.aggregate, rubric.trim_min_judges)
        rows.append((Standing(name, position, totals, mean, result, None, dropped), key))

    ranked = sorted((r for r in rows if r[0].result is not None), key=lambda r: r[1], reverse=True)
    out: list[Standing] = []
    previous: tuple[Decimal, ...] | None = None
    rank = 0
    for index, (standing, key) in enumerate(_stable_ties(ranked), start=1):
        if key != previous:
            rank = index
            previous = key
        out.append(_with_rank(standing, rank))
    out.extend(standing for standing, _ in rows if standing.result is None)
    return out


def _stable_ties(
    ranked: list[tuple[Standing, tuple[Decimal, ...]]],
) -> list[tuple[Standing, tuple[Decimal, ...]]]:
    # sorted(reverse=True) keeps equal keys in input (venue) order already; make it explicit.
    return sorted(ranked, key=lambda r: (tuple(-v for v in r[1]), r[0].position))


def _with_rank(standing: Standing, rank: int) -> Standing:
    return Standing(
        standing.contestant,
        standing.position,
        standing.totals,
        standing.mean,
        standing.result,
        rank,
        standing.dropped,
    )


def _tie_break(
    rubric: RubricSpec,
    mean: Decimal | None,
    contestant: str,
    judges: Sequence[str],
    sheets: Mapping[tuple[str, str], SheetScores],
) -> list[Decimal]:
    keys: list[Decimal] = []
    for step in rubric.tie_break:
        if step == "unrounded":
            keys.append(mean if mean is not None else Decimal(0))
            continue
        index = resolve_item(rubric, step)
        if index is None:
            continue
        values = [
            sheet.items[index]
            for judge in judges
            if (sheet := sheets.get((contestant, judge))) is not None and sheet.items is not None
        ]
        keys.append(sum(values, Decimal(0)) / len(values) if values else Decimal(0))
    return keys


def outliers(totals: Mapping[K, Decimal], threshold: Decimal) -> list[K]:
    """Judges whose total lies more than ``threshold`` from the median of all the judges'
    totals for that contestant, their own included (PRODUCT §4): with 86, 90 and 60 the
    median is 86 and only the 60 is flagged."""
    if len(totals) < 2:
        return []
    middle = Decimal(median(totals.values()))
    return [judge for judge, total in totals.items() if abs(total - middle) > threshold]
