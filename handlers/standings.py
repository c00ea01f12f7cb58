"""A venue's table as it stands, and the messages built from it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from handlers.catalog import VenueSpec
from handlers.results import Standing, outliers, standings, venue_complete
from handlers.rubric import RubricSpec, SheetScores, fmt
from handlers.venues import venue_name
from storage.models import Venue
from storage.scores import sheets_for_venue


@dataclass(frozen=True, slots=True)
class VenueTable:
    """Everything the 成绩汇总表 and the status replies need about one venue."""

    venue_key: str
    title: str
    venue: str
    rubric: RubricSpec
    judges: tuple[str, ...]
    contestants: tuple[str, ...]
    sheets: dict[tuple[str, str], SheetScores]
    standings: tuple[Standing, ...]
    confirmed: frozenset[tuple[str, str]]
    """(contestant, judge) of the sheets whose judge stood by an outlying total (确认)."""

    @property
    def expected(self) -> int:
        """How many sheets make the venue complete: judges × contestants."""
        return len(self.judges) * len(self.contestants)

    @property
    def scored(self) -> int:
        """How many of those sheets are in."""
        return len(self.sheets)

    @property
    def complete(self) -> bool:
        """Every judge has scored every contestant."""
        return venue_complete(len(self.judges), len(self.contestants), self.scored)

    def state_text(self, published: bool) -> str:
        """已公布 / 已完成 / 进行中, as 进度 and the digests show a venue."""
        return "已公布" if published else ("已完成" if self.complete else "进行中")

    def missing_for(self, judge: str) -> list[str]:
        """The contestants ``judge`` has not scored yet, in venue order."""
        return [c for c in self.contestants if (c, judge) not in self.sheets]

    def unconfirmed_outliers(self) -> list[tuple[str, str, Decimal]]:
        """(judge, contestant, total) pairs far from the others and not yet confirmed."""
        found: list[tuple[str, str, Decimal]] = []
        for contestant in self.contestants:
            totals = {
                judge: self.sheets[(contestant, judge)].total
                for judge in self.judges
                if (contestant, judge) in self.sheets
            }
            for judge in outliers(totals, self.rubric.outlier_threshold):
                if (contestant, judge) not in self.confirmed:
                    found.append((judge, contestant, totals[judge]))
        return found


def venue_table(session: Session, venue: Venue) -> VenueTable:
    """Read ``venue``'s sheets and rank its contestants. Only current judges and
    contestants count: sheets of people removed from the config are kept, not used."""
    return spec_table(session, VenueSpec.of(venue))


def spec_table(session: Session, venue: VenueSpec) -> VenueTable:
    """``venue_table`` from the catalog's copy of the venue: one query, the sheets. The
    score that completes a venue builds its table this way, without loading the stored
    venue and its judges, contestants and rubric again."""
    judges = tuple(j.name for j in venue.judges)
    judge_names = {j.person_id: j.name for j in venue.judges}
    names = {c.id: c.name for c in venue.contestants}  # current ones only
    contestants = tuple(c.name for c in venue.contestants)
    sheets: dict[tuple[str, str], SheetScores] = {}
    confirmed: set[tuple[str, str]] = set()
    for judge_id, contestant_id, total, items, confirmed_at in sheets_for_venue(session, venue.id):
        judge = judge_names.get(judge_id)
        contestant = names.get(contestant_id)
        if judge is None or contestant is None:
            continue  # a judge or contestant removed from the config: kept, not counted
        sheets[(contestant, judge)] = SheetScores.from_stored(total, items)
        if confirmed_at is not None:
            confirmed.add((contestant, judge))
    table = standings(venue.rubric, contestants, judges, sheets)
    return VenueTable(
        venue.key,
        venue.title,
        venue_name(venue),
        venue.rubric,
        judges,
        contestants,
        sheets,
        tuple(table),
        frozenset(confirmed),
    )


def result_value(table: VenueTable, value: Decimal | None) -> str:
    """A result with exactly the rubric's decimals (88.0, 84.3)."""
    if value is None:
        return "—"
    return f"{value:.{table.rubric.decimals}f}"


def ranking_text(table: VenueTable, *, heading: str = "") -> str:
    """The venue table as chat text, one contestant a line, in rank order."""
    head = heading or f"{table.venue} 成绩"
    done = f"（已评 {table.scored}/{table.expected}）"
    lines = [f"{head}{done if not table.complete else ''}"]
    for row in table.standings:
        per_judge = " · ".join(
            f"{judge} {fmt(total) if total is not None else '未评'}"
            for judge, total in zip(table.judges, row.totals, strict=True)
        )
        rank = f"第{row.rank}名" if row.rank is not None else "未评"
        note = dropped_note(table, row)
        per_judge += f"；{note}" if note else ""
        lines.append(f"{rank} {row.contestant} {result_value(table, row.result)}（{per_judge}）")
    return "\n".join(lines)


def dropped_note(table: VenueTable, row: Standing) -> str:
    """``去掉最低 张伟利 60、最高 梁飞 99``: what a trimmed mean left out; "" for a mean."""
    if len(row.dropped) != 2:
        return ""
    low, high = row.dropped
    return (
        f"去掉最低 {table.judges[low]} {fmt(row.totals[low] or Decimal(0))}、"
        f"最高 {table.judges[high]} {fmt(row.totals[high] or Decimal(0))}"
    )
