"""Tables for handlers.rubric: a judge's numbers read against the 附件3 rubric."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from handlers.commands import ScoreValue
from handlers.errors import BotError
from handlers.rubric import (
    ItemSpec,
    RubricSpec,
    SheetScores,
    fmt,
    read_scores,
    resolve_item,
    short_label,
)

# 附件3: 工作目标 20 / 任务措施 25 / 工作阶段进展 20 / 工作预期成效 25 / 个人表现 10 = 100.
RUBRIC = RubricSpec(
    key="fujian3",
    name="学校管理论坛评分表",
    items=(
        ItemSpec("工作目标", Decimal(20), ("目标",)),
        ItemSpec("任务措施", Decimal(25), ("措施",)),
        ItemSpec("工作阶段进展", Decimal(20), ("进展",)),
        ItemSpec("工作预期成效", Decimal(25), ("成效",)),
        ItemSpec("个人表现", Decimal(10), ("表现",)),
    ),
    decimals=1,
    allow_total=True,
)
STRICT = replace(RUBRIC, allow_total=False)
UNNAMED = replace(RUBRIC, name="")
WHOLE = replace(RUBRIC, decimals=0)
HUNDREDTHS = replace(RUBRIC, decimals=2)
ONE_ITEM = RubricSpec("one", "总评表", (ItemSpec("总体", Decimal(100)),))

HINT = "评分 瑞泉中学"
EXAMPLE = "评分 瑞泉中学 16 20 16 20 8"  # never the maxima: copying it must not record 100
RETRY = f"请重新发送，例如：{EXAMPLE}"


def values(spec: str) -> tuple[ScoreValue, ...]:
    """``"目标=18 22"`` → (ScoreValue("目标", 18), ScoreValue(None, 22)); digits kept as typed."""
    out = []
    for token in spec.split():
        label, _, number = token.rpartition("=")
        out.append(ScoreValue(label or None, Decimal(number)))
    return tuple(out)


# --- read_scores: accepted ---------------------------------------------------------------

ACCEPTED = [
    # id, rubric, typed values, total as computed, item scores as computed (None: bare total)
    ("positional", RUBRIC, "18 22 17 20 9", "86", ("18", "22", "17", "20", "9")),
    ("positional zeros", RUBRIC, "0 0 0 0 0", "0", ("0", "0", "0", "0", "0")),
    ("positional full marks", RUBRIC, "20 25 20 25 10", "100", ("20", "25", "20", "25", "10")),
    ("halves", RUBRIC, "18.5 22 17.5 20 9", "87.0", ("18.5", "22", "17.5", "20", "9")),
    ("one half", RUBRIC, "18.5 22 17 20 9", "86.5", ("18.5", "22", "17", "20", "9")),
    ("point zero as typed", RUBRIC, "18.0 22 17 20 9", "86.0", ("18.0", "22", "17", "20", "9")),
    (
        "trailing zero after one decimal",
        RUBRIC,
        "18.50 22 17 20 9",
        "86.50",
        ("18.50", "22", "17", "20", "9"),
    ),
    (
        "trailing zeros only",
        RUBRIC,
        "18.000 22 17 20 9",
        "86.000",
        ("18.000", "22", "17", "20", "9"),
    ),
    (
        "labelled by name",
        RUBRIC,
        "工作目标=18 任务措施=22 工作阶段进展=17 工作预期成效=20 个人表现=9",
        "86",
        ("18", "22", "17", "20", "9"),
    ),
    (
        "labelled by alias",
        RUBRIC,
        "目标=18 措施=22 进展=17 成效=20 表现=9",
        "86",
        ("18", "22", "17", "20", "9"),
    ),
    (
        "labelled in any order",
        RUBRIC,
        "表现=9 成效=20 目标=18 进展=17 措施=22",
        "86",
        ("18", "22", "17", "20", "9"),
    ),
    (
        "labelled by partial label",
        RUBRIC,
        "工作目标=18 任务=22 阶段进展=17 预期成效=20 个人=9",
        "86",
        ("18", "22", "17", "20", "9"),
    ),
    (
        "names and aliases mixed",
        RUBRIC,
        "工作目标=18 措施=22 工作阶段进展=17 成效=20 个人表现=9.5",
        "86.5",
        ("18", "22", "17", "20", "9.5"),
    ),
    ("bare total", RUBRIC, "86", "86", None),
    ("bare total half", RUBRIC, "86.5", "86.5", None),
    ("bare total full marks", RUBRIC, "100", "100", None),
    ("bare total zero", RUBRIC, "0", "0", None),
    ("total label 总分", RUBRIC, "总分=86", "86", None),
    ("total label 合计", RUBRIC, "合计=86", "86", None),
    ("total label 总计", RUBRIC, "总计=86", "86", None),
    (
        "decimals 0 still takes halves",
        WHOLE,
        "18.5 22 17 20 9",
        "86.5",
        ("18.5", "22", "17", "20", "9"),
    ),
    ("decimals 2", HUNDREDTHS, "18.25 22 17 20 9", "86.25", ("18.25", "22", "17", "20", "9")),
    ("one-item rubric, positional", ONE_ITEM, "85", "85", ("85",)),
    ("one-item rubric, 总分 label", ONE_ITEM, "总分=85", "85", ("85",)),
    ("one-item rubric, by name", ONE_ITEM, "总体=85.5", "85.5", ("85.5",)),
]


@pytest.mark.parametrize(
    ("rubric", "typed", "total", "items"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_read_scores_accepts(
    rubric: RubricSpec, typed: str, total: str, items: tuple[str, ...] | None
) -> None:
    scores = read_scores(rubric, values(typed), retry_hint=HINT)
    got_items = None if scores.items is None else tuple(str(item) for item in scores.items)
    assert (str(scores.total), got_items) == (total, items)


# --- read_scores: refused ----------------------------------------------------------------

NAMES = "工作目标 任务措施 工作阶段进展 工作预期成效 个人表现"
REFUSED = [
    ("empty", RUBRIC, "", f"没有收到分数。请发送，例如：{EXAMPLE}"),
    (
        "over an item max",
        RUBRIC,
        "18 27 17 20 9",
        "任务措施满分 25，收到 27。请改正后重新发送：评分 瑞泉中学 18 ？ 17 20 9",
    ),
    (
        "over the first item max",
        RUBRIC,
        "20.5 25 20 25 10",
        "工作目标满分 20，收到 20.5。请改正后重新发送：评分 瑞泉中学 ？ 25 20 25 10",
    ),
    (
        "over the last item max",
        RUBRIC,
        "18 22 17 20 11",
        "个人表现满分 10，收到 11。请改正后重新发送：评分 瑞泉中学 18 22 17 20 ？",
    ),
    (
        "over an item max, labelled",
        RUBRIC,
        "表现=9 措施=25.5 目标=18 进展=17 成效=20",
        # rubric order, so the corrected line can be sent positionally
        "任务措施满分 25，收到 25.5。请改正后重新发送：评分 瑞泉中学 18 ？ 17 20 9",
    ),
    (
        "too few",
        RUBRIC,
        "18 22 17 20",
        f"学校管理论坛评分表有 5 项（{NAMES}），收到 4 个分数。{RETRY}",
    ),
    (
        "too many",
        RUBRIC,
        "18 22 17 20 9 1",
        f"学校管理论坛评分表有 5 项（{NAMES}），收到 6 个分数。{RETRY}",
    ),
    (
        "two numbers",
        RUBRIC,
        "86 9",
        f"学校管理论坛评分表有 5 项（{NAMES}），收到 2 个分数。{RETRY}",
    ),
    (
        "wrong count, unnamed rubric",
        UNNAMED,
        "18 22 17",
        f"评分表有 5 项（{NAMES}），收到 3 个分数。{RETRY}",
    ),
    (
        "unknown label",
        RUBRIC,
        "目标=18 措施=22 进展=17 成效=20 态度=9",
        f"没有名为“态度”的评分项（可用：目标、措施、进展、成效、表现）。{RETRY}",
    ),
    (
        "ambiguous partial label",
        RUBRIC,
        "工作=18 措施=22 进展=17 成效=20 表现=9",
        f"没有名为“工作”的评分项（可用：目标、措施、进展、成效、表现）。{RETRY}",
    ),
    (
        "总分 among item labels",
        RUBRIC,
        "目标=18 总分=86",
        f"没有名为“总分”的评分项（可用：目标、措施、进展、成效、表现）。{RETRY}",
    ),
    (
        "duplicate label",
        RUBRIC,
        "目标=18 工作目标=19 措施=22 进展=17 成效=20",
        f"工作目标给了两次分。{RETRY}",
    ),
    (
        "duplicate alias",
        RUBRIC,
        "表现=9 表现=8 目标=18 措施=22 进展=17",
        f"个人表现给了两次分。{RETRY}",
    ),
    (
        "missing labelled items",
        RUBRIC,
        "目标=18 措施=22",
        f"缺少：工作阶段进展、工作预期成效、个人表现。{RETRY}",
    ),
    (
        "one labelled item",
        RUBRIC,
        "成效=20",
        f"缺少：工作目标、任务措施、工作阶段进展、个人表现。{RETRY}",
    ),
    (
        "labelled then positional",
        RUBRIC,
        "目标=18 22 17 20 9",
        f"请全部按项目名或全部按顺序给分，不要混用。{RETRY}",
    ),
    (
        "positional then labelled",
        RUBRIC,
        "18 22 17 20 表现=9",
        f"请全部按项目名或全部按顺序给分，不要混用。{RETRY}",
    ),
    (
        "two decimals",
        RUBRIC,
        "18.25 22 17 20 9",
        f"分数最多保留 1 位小数，收到 18.25。{RETRY}",
    ),
    (
        "two decimals, labelled",
        RUBRIC,
        "目标=18 措施=22.75 进展=17 成效=20 表现=9",
        f"分数最多保留 1 位小数，收到 22.75。{RETRY}",
    ),
    ("two decimals, bare total", RUBRIC, "86.25", f"分数最多保留 1 位小数，收到 86.25。{RETRY}"),
    (
        "three decimals at decimals 2",
        HUNDREDTHS,
        "18.125 22 17 20 9",
        f"分数最多保留 2 位小数，收到 18.125。{RETRY}",
    ),
    (
        "precision beyond the decimal context",
        RUBRIC,
        "18.0000000000000000000000000001 22 17 20 9",
        f"分数最多保留 1 位小数，收到 18.0000000000000000000000000001。{RETRY}",
    ),
    ("total over the maximum", RUBRIC, "101", f"总分满分 100，收到 101。{RETRY}"),
    ("labelled total over the maximum", RUBRIC, "总分=100.5", f"总分满分 100，收到 100.5。{RETRY}"),
    (
        "bare total not allowed",
        STRICT,
        "86",
        f"本评分表需要逐项给分（5 项）。请发送，例如：{EXAMPLE}",
    ),
    (
        "总分 not allowed",
        STRICT,
        "总分=86",
        f"本评分表需要逐项给分（5 项）。请发送，例如：{EXAMPLE}",
    ),
    (
        "one-item rubric over max",
        ONE_ITEM,
        "101",
        "总体满分 100，收到 101。请改正后重新发送：评分 瑞泉中学 ？",
    ),
]


@pytest.mark.parametrize(
    ("rubric", "typed", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_read_scores_refuses(rubric: RubricSpec, typed: str, message: str) -> None:
    with pytest.raises(BotError) as refused:
        read_scores(rubric, values(typed), retry_hint=HINT)
    assert refused.value.message == message
    assert str(refused.value) == message


# --- SheetScores.describe ----------------------------------------------------------------

D = Decimal
DESCRIBE = [
    (
        "items",
        SheetScores(D(86), (D(18), D(22), D(17), D(20), D(9))),
        "86 分（目标18 措施22 进展17 成效20 表现9）",
    ),
    (
        "halves",
        SheetScores(D("86.5"), (D("18.5"), D(22), D(17), D(20), D(9))),
        "86.5 分（目标18.5 措施22 进展17 成效20 表现9）",
    ),
    (
        "trailing zeros dropped",
        SheetScores(D("87.0"), (D("18.50"), D("22.0"), D("17.5"), D(20), D(9))),
        "87 分（目标18.5 措施22 进展17.5 成效20 表现9）",
    ),
    (
        "zeros",
        SheetScores(D(0), (D(0), D(0), D(0), D(0), D(0))),
        "0 分（目标0 措施0 进展0 成效0 表现0）",
    ),
    ("bare total", SheetScores(D(86), None), "86 分（总分）"),
    ("bare total full marks", SheetScores(D(100), None), "100 分（总分）"),
]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [case[1:] for case in DESCRIBE],
    ids=[case[0] for case in DESCRIBE],
)
def test_describe(scores: SheetScores, expected: str) -> None:
    assert scores.describe(RUBRIC) == expected


def test_describe_item_without_alias_uses_its_name() -> None:
    assert SheetScores(D(85), (D(85),)).describe(ONE_ITEM) == "85 分（总体85）"


def test_describe_refuses_a_sheet_of_another_rubric() -> None:
    # strict zip: a sheet with the wrong number of items is a bug, not a shorter reply.
    with pytest.raises(ValueError, match="zip"):
        SheetScores(D(38), (D(18), D(20))).describe(RUBRIC)


def test_read_then_describe_round_trip() -> None:
    scores = read_scores(
        RUBRIC, values("表现=9 成效=20 目标=18.5 进展=17 措施=22"), retry_hint=HINT
    )
    assert scores.describe(RUBRIC) == "86.5 分（目标18.5 措施22 进展17 成效20 表现9）"


# --- fmt ---------------------------------------------------------------------------------

FMT = [
    ("integer", "18", "18"),
    ("half", "18.5", "18.5"),
    ("point zero", "18.0", "18"),
    ("half with trailing zero", "18.50", "18.5"),
    ("two decimals", "0.25", "0.25"),
    ("zero", "0", "0"),
    ("zero point zero", "0.0", "0"),
    ("zero with decimals", "0.00", "0"),
    ("hundred", "100", "100"),
    ("hundred point zero", "100.0", "100"),
    ("exponent ten", "1E+1", "10"),
    ("exponent hundred", "1E+2", "100"),
    ("under one", "0.5", "0.5"),
    ("mean of thirds", "85.33", "85.33"),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [case[1:] for case in FMT],
    ids=[case[0] for case in FMT],
)
def test_fmt(value: str, expected: str) -> None:
    assert fmt(Decimal(value)) == expected


# --- resolve_item, short_label -----------------------------------------------------------

RESOLVE = [
    ("name", "工作目标", 0),
    ("alias", "目标", 0),
    ("name 2", "任务措施", 1),
    ("alias 2", "措施", 1),
    ("exact name wins over partial 工作", "工作阶段进展", 2),
    ("alias 3", "进展", 2),
    ("alias 4", "成效", 3),
    ("alias 5", "表现", 4),
    ("partial inside the name", "阶段进展", 2),
    ("partial prefix", "任务", 1),
    ("partial 预期", "预期", 3),
    ("partial 个人", "个人", 4),
    ("partial single character", "效", 3),
    ("label containing a name", "工作目标分", 0),
    ("ambiguous partial", "工作", None),
    ("label naming two items", "目标和措施", None),
    ("unknown", "态度", None),
    ("total label is no item", "总分", None),
]


@pytest.mark.parametrize(
    ("label", "expected"),
    [case[1:] for case in RESOLVE],
    ids=[case[0] for case in RESOLVE],
)
def test_resolve_item(label: str, expected: int | None) -> None:
    assert resolve_item(RUBRIC, label) == expected


SHORT = [
    ("alias shorter than name", ItemSpec("工作目标", D(20), ("目标",)), "目标"),
    ("no alias", ItemSpec("总体", D(100)), "总体"),
    ("shortest of several aliases", ItemSpec("Goals", D(20), ("goal", "G")), "G"),
    ("tie keeps the name", ItemSpec("目标", D(20), ("工作",)), "目标"),
]


@pytest.mark.parametrize(
    ("item", "expected"),
    [case[1:] for case in SHORT],
    ids=[case[0] for case in SHORT],
)
def test_short_label(item: ItemSpec, expected: str) -> None:
    assert short_label(item) == expected


def test_short_labels_of_fujian3() -> None:
    assert [short_label(item) for item in RUBRIC.items] == ["目标", "措施", "进展", "成效", "表现"]
    assert RUBRIC.total_max == Decimal(100)
