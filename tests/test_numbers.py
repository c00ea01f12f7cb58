"""Tables for handlers.numbers: normalisation, score numbers, labelled scores."""

from __future__ import annotations

from decimal import Decimal

import pytest

from handlers.numbers import normalize, parse_number, split_label

# --- normalize ---------------------------------------------------------------------------

NORMALIZE_CASES = [
    ("plain", "评分 瑞泉中学 18", "评分 瑞泉中学 18"),
    ("full-width digits", "１８　２２", "18 22"),
    ("full-width letters", "ＣＳＶ ｈｔｔｐ", "CSV http"),
    ("ideographic space", "评分\u3000瑞泉中学", "评分 瑞泉中学"),
    ("chinese comma", "18，22，17", "18 22 17"),
    ("enumeration comma", "18、22、17", "18 22 17"),
    ("chinese semicolon and colon", "目标：18；措施：22", "目标 18 措施 22"),
    ("ascii comma semicolon colon", "目标:18;措施:22,进展:17", "目标 18 措施 22 进展 17"),
    ("tabs", "瑞泉中学\t18\t\t22", "瑞泉中学 18 22"),
    ("runs of spaces", "瑞泉中学    18  22", "瑞泉中学 18 22"),
    ("nbsp and four-per-em space", "@机器人\u2005评分\u00a0瑞泉中学", "@机器人 评分 瑞泉中学"),
    ("zero-width space", "评分\u200b瑞泉中学", "评分瑞泉中学"),
    ("lines stripped, breaks kept", "  评分 \n 韩马 19 \n\n4号 18 ", "评分\n韩马 19\n\n4号 18"),
    ("crlf", "评分\r\n韩马 19", "评分\n韩马 19"),
    ("full stop kept", "18 22 17 20 9。", "18 22 17 20 9。"),
    ("decimal point kept", "18.5", "18.5"),
    ("full-width decimal point", "１８．５", "18.5"),
    ("full-width question mark", "？", "?"),
    ("empty", "", ""),
    ("whitespace only", " \t\u3000 ", ""),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in NORMALIZE_CASES],
    ids=[case[0] for case in NORMALIZE_CASES],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


# --- parse_number ------------------------------------------------------------------------

NUMBER_CASES = [
    ("integer", "18", "18"),
    ("half", "18.5", "18.5"),
    ("trailing zero kept as typed", "18.0", "18.0"),
    ("fen suffix", "18分", "18"),
    ("half with fen", "18.5分", "18.5"),
    ("zero", "0", "0"),
    ("hundred", "100", "100"),
    ("full-width digits", "１８", "18"),
    ("full-width half", "１８．５", "18.5"),
    ("surrounding spaces", " 18 ", "18"),
    ("chinese eighteen", "十八", "18"),
    ("chinese eighteen fen", "十八分", "18"),
    ("chinese eighteen point five", "十八点五", "18.5"),
    ("chinese twenty-five", "二十五", "25"),
    ("chinese hundred", "一百", "100"),
    ("chinese zero", "零", "0"),
    ("chinese ten", "十", "10"),
    ("chinese one-ten-eight", "一十八", "18"),
    ("chinese point zero", "十八点零", "18.0"),
    ("chinese two decimals", "十八点五五", "18.55"),
    ("chinese zero point five", "零点五", "0.5"),
    ("financial numerals", "壹拾捌", "18"),
]


@pytest.mark.parametrize(
    ("token", "expected"),
    [case[1:] for case in NUMBER_CASES],
    ids=[case[0] for case in NUMBER_CASES],
)
def test_parse_number(token: str, expected: str) -> None:
    value = parse_number(token)
    assert value == Decimal(expected)
    # As typed: 18.0 stays 18.0, and the digits never went through float.
    assert str(value) == expected


NOT_NUMBER_CASES = [
    ("empty", ""),
    ("spaces", "  "),
    ("fen only", "分"),
    ("negative", "-18"),
    ("unicode minus", "−18"),
    ("chinese negative", "负十八"),
    ("plus sign", "+18"),
    ("exponent", "1e5"),
    ("two points", "18.5.1"),
    ("leading point", ".5"),
    ("trailing point", "18."),
    ("double fen", "18分分"),
    ("percent", "18%"),
    ("word", "瑞泉中学"),
    ("label and number", "目标18"),
    ("number reference", "3号"),
    ("ordinal", "第一"),
    ("name with numeral", "第一小学"),
    ("chinese trailing point", "十八点"),
    ("chinese leading point", "点五"),
    ("chinese two points", "十八点五点五"),
    ("chinese unit after point", "十八点十"),
    ("liang not strict", "两"),
    ("mixed digits", "1十8"),
    ("arabic-indic digits", "١٨"),
    ("nan", "NaN"),
    ("infinity", "Infinity"),
    ("comma decimal", "18,5"),
]


@pytest.mark.parametrize(
    "token", [case[1] for case in NOT_NUMBER_CASES], ids=[case[0] for case in NOT_NUMBER_CASES]
)
def test_parse_number_refuses(token: str) -> None:
    assert parse_number(token) is None


# --- split_label -------------------------------------------------------------------------

LABEL_CASES = [
    ("short label", "目标18", "目标", "18"),
    ("chinese numeral", "目标十八", "目标", "18"),
    ("full item name with fen", "工作目标18分", "工作目标", "18"),
    ("total", "总分86", "总分", "86"),
    ("half", "目标18.5", "目标", "18.5"),
    ("chinese half", "目标十八点五", "目标", "18.5"),
    ("chinese with fen", "表现九分", "表现", "9"),
    ("total in chinese with fen", "总分八十六分", "总分", "86"),
    ("longest chinese tail", "进展二十", "进展", "20"),
    ("latin label", "goal18", "goal", "18"),
    ("full-width digits", "措施２２", "措施", "22"),
    ("label with numeral inside", "第一项十八", "第一项", "18"),
]


@pytest.mark.parametrize(
    ("token", "label", "value"),
    [case[1:] for case in LABEL_CASES],
    ids=[case[0] for case in LABEL_CASES],
)
def test_split_label(token: str, label: str, value: str) -> None:
    assert split_label(token) == (label, Decimal(value))


NOT_LABEL_CASES = [
    ("school with numeral inside", "渭南市第一小学"),
    ("numeral inside", "第一小学"),
    ("ordinal alone", "第一"),
    ("ordinal eighteen", "第十八"),
    ("name ending in ordinal", "渭南市第一"),
    ("ordinal with digits", "第3"),
    ("plain number", "18"),
    ("plain chinese number", "十八"),
    ("number with fen", "十八分"),
    ("label only", "目标"),
    ("total word only", "总分"),
    ("contestant name", "瑞泉中学共同体"),
    ("digits in label", "3号18"),
    ("broken number", "目标18.5.1"),
    ("negative", "目标-18"),
    ("chinese negative", "负十八"),
    ("labelled chinese negative", "目标负十八"),
    ("bad chinese tail", "目标点五"),
    ("empty", ""),
    ("number reference", "3号"),
]


@pytest.mark.parametrize(
    "token", [case[1] for case in NOT_LABEL_CASES], ids=[case[0] for case in NOT_LABEL_CASES]
)
def test_split_label_refuses(token: str) -> None:
    assert split_label(token) is None
