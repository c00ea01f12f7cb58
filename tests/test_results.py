"""Tables for handlers.results: rounding, aggregation, ranking and outliers (PRODUCT §4)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.results import (
    Standing,
    aggregate,
    outliers,
    round_half_up,
    standings,
    venue_complete,
)
from handlers.rubric import ItemSpec, RubricSpec, SheetScores

D = Decimal

RUBRIC = RubricSpec(
    key="fujian3",
    name="学校管理论坛评分表",
    items=(
        ItemSpec("工作目标", D(20), ("目标",)),
        ItemSpec("任务措施", D(25), ("措施",)),
        ItemSpec("工作阶段进展", D(20), ("进展",)),
        ItemSpec("工作预期成效", D(25), ("成效",)),
        ItemSpec("个人表现", D(10), ("表现",)),
    ),
    decimals=1,
    allow_total=True,
)
JUDGES = ("申毅", "梁飞", "张伟利")
VENUE = ("瑞泉中学共同体", "杜桥中学", "尚德中学", "韩马初中共同体", "育红初中共同体")


# --- round_half_up -----------------------------------------------------------------------

ROUNDING = [
    ("half up at one decimal", "84.25", 1, "84.3"),
    ("half up, odd digit", "84.35", 1, "84.4"),
    ("below half", "84.249", 1, "84.2"),
    ("above half", "84.251", 1, "84.3"),
    ("half up from .15", "84.15", 1, "84.2"),
    ("half up from .05", "84.05", 1, "84.1"),
    ("carry into the integer", "84.95", 1, "85.0"),
    ("carry to a hundred", "99.95", 1, "100.0"),
    ("integer gets its decimal", "85", 1, "85.0"),
    ("zero decimals, even below", "84.5", 0, "85"),
    ("zero decimals, odd below", "83.5", 0, "84"),
    ("zero decimals, below half", "84.49", 0, "84"),
    ("two decimals", "84.125", 2, "84.13"),
    ("two decimals, odd", "84.135", 2, "84.14"),
    ("two decimals from thirds", "85.33333333333333333333333333", 2, "85.33"),
    ("one decimal from two thirds", "85.66666666666666666666666667", 1, "85.7"),
    ("zero", "0", 1, "0.0"),
    ("two decimals pads", "80.5", 2, "80.50"),
]


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [case[1:] for case in ROUNDING],
    ids=[case[0] for case in ROUNDING],
)
def test_round_half_up(value: str, decimals: int, expected: str) -> None:
    assert str(round_half_up(D(value), decimals)) == expected


FLOAT_DIFFERS = [
    # float round is banker's rounding on a binary approximation: never use it for results.
    ("84.25 exactly representable, banker's", "84.25", 1, 84.2, "84.3"),
    ("0.125 exactly representable, banker's", "0.125", 2, 0.12, "0.13"),
    ("2.675 is 2.67499... in binary", "2.675", 2, 2.67, "2.68"),
    ("84.5 to an integer, banker's", "84.5", 0, 84.0, "85"),
]


@pytest.mark.parametrize(
    ("value", "decimals", "float_result", "expected"),
    [case[1:] for case in FLOAT_DIFFERS],
    ids=[case[0] for case in FLOAT_DIFFERS],
)
def test_float_round_would_differ(
    value: str, decimals: int, float_result: float, expected: str
) -> None:
    assert round(float(value), decimals) == float_result
    assert str(round_half_up(D(value), decimals)) == expected
    assert float(expected) != float_result


# --- aggregate ---------------------------------------------------------------------------

AGGREGATE = [
    ("mean of three", ("85", "86", "87"), "mean", 5, D(86)),
    ("mean of two is a half", ("85", "86"), "mean", 5, D("85.5")),
    ("mean of thirds is exact decimal", ("85", "86", "88"), "mean", 5, D(259) / D(3)),
    ("mean of one", ("90",), "mean", 5, D(90)),
    ("mean keeps halves", ("85.5", "86.5", "84"), "mean", 5, D(256) / D(3)),
    ("mean ignores trim_min_judges", ("70", "80", "85", "90", "99"), "mean", 3, D("84.8")),
    ("empty mean", (), "mean", 5, None),
    ("empty trimmed", (), "trimmed_mean", 3, None),
    ("trimmed with five of five", ("99", "80", "85", "90", "70"), "trimmed_mean", 5, D(85)),
    (
        "trimmed below the minimum is a mean",
        ("70", "80", "90", "99"),
        "trimmed_mean",
        5,
        D("84.75"),
    ),
    ("trimmed with three of three", ("70", "95", "80"), "trimmed_mean", 3, D(80)),
    ("trimmed two of minimum three", ("70", "95"), "trimmed_mean", 3, D("82.5")),
    (
        "trimmed drops one highest and one lowest only",
        ("90", "70", "80", "90", "70"),
        "trimmed_mean",
        5,
        D(80),
    ),
    ("trimmed of six", ("60", "80", "81", "82", "83", "100"), "trimmed_mean", 5, D("81.5")),
]


@pytest.mark.parametrize(
    ("totals", "method", "trim_min", "expected"),
    [case[1:] for case in AGGREGATE],
    ids=[case[0] for case in AGGREGATE],
)
def test_aggregate(
    totals: tuple[str, ...], method: str, trim_min: int, expected: Decimal | None
) -> None:
    assert aggregate([D(t) for t in totals], method, trim_min) == expected


# --- standings ---------------------------------------------------------------------------

Sheets = dict[tuple[str, str], SheetScores]


def bare(rows: Mapping[str, tuple[str | None, ...]]) -> Sheets:
    """{contestant: (total per judge or None)} → sheets of bare totals."""
    return {
        (name, judge): SheetScores(D(total), None)
        for name, totals in rows.items()
        for judge, total in zip(JUDGES, totals, strict=True)
        if total is not None
    }


def table(result: list[Standing]) -> list[tuple[str, int | None, str | None]]:
    return [(s.contestant, s.rank, None if s.result is None else str(s.result)) for s in result]


STANDINGS = [
    (
        "1224 ranking",
        RUBRIC,
        {
            "瑞泉中学共同体": ("70", "70", "70"),
            "杜桥中学": ("85", "85", "85"),
            "尚德中学": ("95", "95", "95"),
            "韩马初中共同体": ("84", "85", "86"),
            "育红初中共同体": ("80", "80", "80"),
        },
        [
            ("尚德中学", 1, "95.0"),
            ("杜桥中学", 2, "85.0"),
            ("韩马初中共同体", 2, "85.0"),
            ("育红初中共同体", 4, "80.0"),
            ("瑞泉中学共同体", 5, "70.0"),
        ],
    ),
    (
        "ties keep venue order",
        RUBRIC,
        {
            "瑞泉中学共同体": ("80", "80", "80"),
            "杜桥中学": ("90", "90", "90"),
            "尚德中学": ("80", "80", "80"),
            "韩马初中共同体": ("90", "90", "90"),
            "育红初中共同体": ("80", "80", "80"),
        },
        [
            ("杜桥中学", 1, "90.0"),
            ("韩马初中共同体", 1, "90.0"),
            ("瑞泉中学共同体", 3, "80.0"),
            ("尚德中学", 3, "80.0"),
            ("育红初中共同体", 3, "80.0"),
        ],
    ),
    (
        "rounded results tie: 84.25 and 84.3 both publish 84.3",
        RUBRIC,
        {
            "瑞泉中学共同体": ("84", "84.5", None),
            "杜桥中学": ("84.3", "84.3", None),
            "尚德中学": ("84.2", "84.2", None),
        },
        [
            ("瑞泉中学共同体", 1, "84.3"),
            ("杜桥中学", 1, "84.3"),
            ("尚德中学", 3, "84.2"),
            ("韩马初中共同体", None, None),
            ("育红初中共同体", None, None),
        ],
    ),
    (
        "tie-break unrounded separates equal rounded results",
        replace(RUBRIC, tie_break=("unrounded",)),
        {
            "瑞泉中学共同体": ("84", "84.5", None),
            "杜桥中学": ("84.3", "84.3", None),
            "尚德中学": ("84.2", "84.2", None),
        },
        [
            ("杜桥中学", 1, "84.3"),
            ("瑞泉中学共同体", 2, "84.3"),
            ("尚德中学", 3, "84.2"),
            ("韩马初中共同体", None, None),
            ("育红初中共同体", None, None),
        ],
    ),
    (
        "unscored last in venue order",
        RUBRIC,
        {"尚德中学": ("80", "81", "82"), "育红初中共同体": ("90", "90", "90")},
        [
            ("育红初中共同体", 1, "90.0"),
            ("尚德中学", 2, "81.0"),
            ("瑞泉中学共同体", None, None),
            ("杜桥中学", None, None),
            ("韩马初中共同体", None, None),
        ],
    ),
    (
        "nobody scored",
        RUBRIC,
        {},
        [(name, None, None) for name in VENUE],
    ),
    (
        "partial scoring: the mean over those who scored",
        RUBRIC,
        {
            "瑞泉中学共同体": ("90", None, "80"),
            "杜桥中学": (None, "86", None),
            "尚德中学": ("85", "85", "85"),
        },
        [
            ("杜桥中学", 1, "86.0"),
            ("瑞泉中学共同体", 2, "85.0"),
            ("尚德中学", 2, "85.0"),
            ("韩马初中共同体", None, None),
            ("育红初中共同体", None, None),
        ],
    ),
    (
        "zero decimals",
        replace(RUBRIC, decimals=0),
        {
            "瑞泉中学共同体": ("84", "85", None),
            "杜桥中学": ("85", "85", None),
            "尚德中学": ("83", "84", None),
        },
        [
            ("瑞泉中学共同体", 1, "85"),
            ("杜桥中学", 1, "85"),
            ("尚德中学", 3, "84"),
            ("韩马初中共同体", None, None),
            ("育红初中共同体", None, None),
        ],
    ),
]


@pytest.mark.parametrize(
    ("rubric", "rows", "expected"),
    [case[1:] for case in STANDINGS],
    ids=[case[0] for case in STANDINGS],
)
def test_standings(
    rubric: RubricSpec,
    rows: dict[str, tuple[str | None, ...]],
    expected: list[tuple[str, int | None, str | None]],
) -> None:
    assert table(standings(rubric, VENUE, JUDGES, bare(rows))) == expected


def test_standing_rows_carry_totals_mean_and_position() -> None:
    rows = {"瑞泉中学共同体": ("90", None, "80.5"), "杜桥中学": ("86", "86", "86")}
    result = standings(RUBRIC, VENUE[:3], JUDGES, bare(rows))
    assert result == [
        Standing("杜桥中学", 2, (D(86), D(86), D(86)), D(86), D("86.0"), 1),
        Standing("瑞泉中学共同体", 1, (D(90), None, D("80.5")), D("85.25"), D("85.3"), 2),
        Standing("尚德中学", 3, (None, None, None), None, None, None),
    ]
    assert [s.scored_by for s in result] == [3, 2, 0]


def test_standings_trimmed_mean_with_five_judges() -> None:
    judges = ("一", "二", "三", "四", "五")
    rubric = replace(RUBRIC, aggregate="trimmed_mean", trim_min_judges=5)
    sheets = {
        ("甲", j): SheetScores(D(t), None)
        for j, t in zip(judges, ("99", "80", "85", "90", "60"), strict=True)
    }
    sheets |= {("乙", j): SheetScores(D(86), None) for j in judges}
    result = standings(rubric, ("甲", "乙"), judges, sheets)
    # 甲: the plain mean would be 82.8; trimmed (80+85+90)/3 = 85.
    assert table(result) == [("乙", 1, "86.0"), ("甲", 2, "85.0")]


def item_sheet(total: str, *items: str) -> SheetScores:
    return SheetScores(D(total), tuple(D(i) for i in items))


# 瑞泉 and 杜桥 both total 86 from every judge; 杜桥 has more on 工作目标, 瑞泉 on 个人表现.
EQUAL_TOTALS: Sheets = {
    **{(VENUE[0], j): item_sheet("86", "17", "22", "17", "20", "10") for j in JUDGES},
    **{(VENUE[1], j): item_sheet("86", "19", "22", "17", "20", "8") for j in JUDGES},
    **{(VENUE[2], j): item_sheet("80", "16", "20", "16", "20", "8") for j in JUDGES},
}
TIE_BREAKS = [
    ("no chain: shared rank", (), [(VENUE[0], 1), (VENUE[1], 1), (VENUE[2], 3)]),
    ("by item name", ("工作目标",), [(VENUE[1], 1), (VENUE[0], 2), (VENUE[2], 3)]),
    ("by alias", ("表现",), [(VENUE[0], 1), (VENUE[1], 2), (VENUE[2], 3)]),
    (
        "unrounded equal, then the item",
        ("unrounded", "目标"),
        [(VENUE[1], 1), (VENUE[0], 2), (VENUE[2], 3)],
    ),
    ("an item that does not separate", ("进展",), [(VENUE[0], 1), (VENUE[1], 1), (VENUE[2], 3)]),
    ("an unknown step is skipped", ("态度", "目标"), [(VENUE[1], 1), (VENUE[0], 2), (VENUE[2], 3)]),
]


@pytest.mark.parametrize(
    ("chain", "expected"),
    [case[1:] for case in TIE_BREAKS],
    ids=[case[0] for case in TIE_BREAKS],
)
def test_tie_break_chain(chain: tuple[str, ...], expected: list[tuple[str, int]]) -> None:
    result = standings(replace(RUBRIC, tie_break=chain), VENUE[:3], JUDGES, EQUAL_TOTALS)
    assert [(s.contestant, s.rank) for s in result] == expected
    assert [str(s.result) for s in result] == [
        str(s.result) for s in sorted(result, key=lambda s: -(s.result or 0))
    ]


def test_tie_break_never_reorders_different_results() -> None:
    # 杜桥 has the better 工作目标, but a lower published result: the result decides first.
    sheets = {
        **{(VENUE[0], j): item_sheet("87", "15", "22", "20", "20", "10") for j in JUDGES},
        **{(VENUE[1], j): item_sheet("86", "20", "22", "17", "20", "7") for j in JUDGES},
    }
    result = standings(replace(RUBRIC, tie_break=("目标",)), VENUE[:2], JUDGES, sheets)
    assert [(s.contestant, s.rank) for s in result] == [(VENUE[0], 1), (VENUE[1], 2)]


# --- outliers ----------------------------------------------------------------------------

OUTLIERS = [
    ("one far below", {"申毅": "86", "梁飞": "85", "张伟利": "60"}, "15", ["张伟利"]),
    ("one far above", {"申毅": "99", "梁飞": "80", "张伟利": "81"}, "15", ["申毅"]),
    ("close together", {"申毅": "86", "梁飞": "85", "张伟利": "80"}, "15", []),
    ("exactly at the threshold is not an outlier", {"A": "85", "B": "85", "C": "70"}, "15", []),
    ("just over the threshold", {"A": "85", "B": "85", "C": "69.9"}, "15", ["C"]),
    ("the median includes the judge's own total", {"A": "85", "B": "90", "C": "103"}, "15", []),
    (
        "a normal judge is not flagged by another's outlier",
        {"申毅": "86", "梁飞": "90", "张伟利": "60"},
        "15",
        ["张伟利"],
    ),
    ("just past the median of all", {"A": "85", "B": "90", "C": "105.5"}, "15", ["C"]),
    ("two judges: each half the gap from their median", {"A": "90", "B": "70"}, "15", []),
    ("two judges far apart: both asked", {"A": "90", "B": "50"}, "15", ["A", "B"]),
    ("two judges at the threshold", {"A": "85", "B": "70"}, "15", []),
    ("one judge", {"A": "85"}, "15", []),
    ("nobody", {}, "15", []),
    ("a smaller threshold", {"A": "86", "B": "85", "C": "74"}, "10", ["C"]),
    (
        "five judges, one far",
        {"一": "85", "二": "86", "三": "84", "四": "60", "五": "85"},
        "15",
        ["四"],
    ),
    (
        "judges in mapping order",
        {"Z": "50", "A": "85", "M": "86", "B": "101"},
        "15",
        ["Z", "B"],
    ),
]


@pytest.mark.parametrize(
    ("totals", "threshold", "expected"),
    [case[1:] for case in OUTLIERS],
    ids=[case[0] for case in OUTLIERS],
)
def test_outliers(totals: dict[str, str], threshold: str, expected: list[str]) -> None:
    given_totals = {judge: D(total) for judge, total in totals.items()}
    assert outliers(given_totals, D(threshold)) == expected


# --- properties --------------------------------------------------------------------------

HALF_POINTS = st.integers(min_value=0, max_value=200).map(lambda n: D(n) / 2)


@st.composite
def venues(draw: st.DrawFn) -> tuple[RubricSpec, list[str], list[str], Sheets]:
    contestants = [f"选手{i}" for i in range(draw(st.integers(1, 8)))]
    judges = [f"评委{i}" for i in range(draw(st.integers(1, 5)))]
    rubric = replace(
        RUBRIC,
        decimals=draw(st.integers(0, 2)),
        aggregate=draw(st.sampled_from(["mean", "trimmed_mean"])),
        trim_min_judges=3,
    )
    sheets: Sheets = {}
    for name in contestants:
        for judge in judges:
            total = draw(st.none() | HALF_POINTS)
            if total is not None:
                sheets[(name, judge)] = SheetScores(total, None)
    return rubric, contestants, judges, sheets


@settings(max_examples=300, deadline=None)
@given(venues())
def test_ranking_properties(venue: tuple[RubricSpec, list[str], list[str], Sheets]) -> None:
    rubric, contestants, judges, sheets = venue
    result = standings(rubric, contestants, judges, sheets)

    # Everyone appears once; the ranked come first, the unscored after them in venue order.
    assert sorted(s.contestant for s in result) == sorted(contestants)
    ranked = [s for s in result if s.rank is not None]
    unranked = result[len(ranked) :]
    assert all(s.rank is None and s.result is None and s.scored_by == 0 for s in unranked)
    assert [s.position for s in unranked] == sorted(s.position for s in unranked)
    assert all(s.scored_by > 0 for s in ranked)

    # Ranks never decrease down the table; equal results share a rank, in venue order.
    ranks = [s.rank for s in ranked]
    assert ranks == sorted(ranks)
    for a, b in itertools.pairwise(ranked):
        assert (a.result == b.result) == (a.rank == b.rank)
        if a.rank == b.rank:
            assert a.position < b.position

    # Competition ranking (1, 2, 2, 4): a rank is one more than the number of better results,
    # so exactly r contestants have a rank of at most r whenever r is a rank that occurs + ties.
    for s in ranked:
        assert s.result is not None
        better = sum(1 for t in ranked if t.result is not None and t.result > s.result)
        assert s.rank == better + 1
        assert sum(1 for t in ranked if t.rank is not None and t.rank <= s.rank) == better + sum(
            1 for t in ranked if t.result == s.result
        )
        assert s.mean is not None
        assert s.result == round_half_up(s.mean, rubric.decimals)


@pytest.mark.parametrize(
    ("judges", "contestants", "sheets", "complete"),
    [
        pytest.param(3, 5, 15, True, id="every-sheet"),
        pytest.param(3, 5, 14, False, id="one-missing"),
        pytest.param(3, 5, 16, True, id="more-than-expected-still-complete"),
        pytest.param(0, 5, 0, False, id="no-judges-never-complete"),
        pytest.param(3, 0, 0, False, id="no-contestants-never-complete"),
    ],
)
def test_venue_complete(judges: int, contestants: int, sheets: int, complete: bool) -> None:
    assert venue_complete(judges, contestants, sheets) is complete
