"""Text normalisation and score numbers as judges type them.

Judges type on phone IMEs: full-width digits and spaces, Chinese punctuation between scores,
Chinese numerals (十八、十八点五), an optional 分 after a number. Everything here is pure and
returns ``Decimal`` built from the typed digits, never through ``float``.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

import cn2an

__all__ = ["normalize", "parse_number", "split_label"]

# Separators people put between scores and labels. NFKC has already folded the full-width
# forms (，；：) to ASCII; 、 has no ASCII twin so it is listed on its own.
_SEPARATORS = str.maketrans(dict.fromkeys(",;:、，；：\t", " "))
# Every remaining kind of horizontal space (NBSP, U+2005 after a WeCom @-mention, ...) and
# zero-width characters some clients insert around mentions.
_SPACES = re.compile(r"[^\S\n]+")
_ZERO_WIDTH = str.maketrans(dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff", ""))

# ASCII digits only: ``\d`` would also accept Arabic-Indic and other Unicode digits.
_DIGITS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_DIGIT_CHARS = frozenset("0123456789.")

# Characters cn2an's strict mode reads, plus 点 for the decimal point. 两 and 〇 are left
# out because strict mode refuses them anyway.
_CN_DIGITS = "零一二三四五六七八九壹贰叁肆伍陆柒捌玖"
_CN_NUMERAL = frozenset(_CN_DIGITS + "十百千万亿拾佰仟点")
_CN_POINT = "点"
_SUFFIX = "分"
# 第一 / 第十八 are ordinals (第一小学, 第十八名), never "label 第 + number"; 负十八 is a
# negative number, never "label 负 + number".
_NOT_LABEL_ENDINGS = ("第", "负")


def normalize(text: str) -> str:
    """Fold *text* to one canonical form, keeping its line breaks.

    NFKC turns full-width digits, letters, spaces and punctuation into ASCII; the separators
    ``，、；：`` and ``,;:`` and tabs become spaces; runs of spaces collapse to one; each line
    is stripped. ``。`` is kept: it ends a sentence, it is not a decimal point.
    """
    lines = (_normalize_line(line) for line in text.splitlines())
    return "\n".join(lines)


def _normalize_line(line: str) -> str:
    folded = unicodedata.normalize("NFKC", line).translate(_ZERO_WIDTH).translate(_SEPARATORS)
    return _SPACES.sub(" ", folded).strip()


def parse_number(token: str) -> Decimal | None:
    """Read one score as typed, or return ``None``.

    Accepted: ASCII (or full-width) digits with an optional decimal part (``18``, ``18.5``,
    ``18.0``), Chinese numerals (``十八``, ``二十五``, ``十八点五``, ``零``), each with an
    optional trailing ``分``. Refused: signs (so no negatives), exponents, several points,
    a bare ``分``, an empty string and anything with other characters in it. The value keeps
    the digits as typed (``Decimal("18.0")``); range checks belong to the rubric.
    """
    token = unicodedata.normalize("NFKC", token).strip()
    if token.endswith(_SUFFIX):
        token = token[: -len(_SUFFIX)]
    if not token:
        return None
    if _DIGITS.fullmatch(token):
        return Decimal(token)
    if all(ch in _CN_NUMERAL for ch in token):
        return _parse_chinese(token)
    return None


def _parse_chinese(token: str) -> Decimal | None:
    """Chinese numeral → Decimal; the fraction is read digit by digit so no float is involved."""
    whole, point, fraction = token.partition(_CN_POINT)
    if point and (not fraction or _CN_POINT in fraction):
        return None
    integer = _cn2an_int(whole)
    if integer is None:
        return None
    if not point:
        return Decimal(integer)
    digits = []
    for ch in fraction:
        # Digits after 点 are spoken one by one (十八点五五 = 18.55); 十/百 there are typos.
        if ch not in _CN_DIGITS:
            return None
        digit = _cn2an_int(ch)
        if digit is None:
            return None
        digits.append(str(digit))
    return Decimal(f"{integer}.{''.join(digits)}")


def _cn2an_int(text: str) -> int | None:
    """An integer in Chinese numerals via cn2an's strict mode, or None when it is not one."""
    if not text:
        return None
    try:
        value = cn2an.cn2an(text, "strict")
    except ValueError:
        return None
    # Strict mode returns int for whole numbers; anything else (float, negative) is not ours.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def split_label(token: str) -> tuple[str, Decimal] | None:
    """Split a labelled score such as ``目标18`` or ``工作目标十八分`` into (label, value).

    The label is the non-empty run of letters (CJK or Latin) before a numeric tail; an
    optional ``分`` may follow the number. The tail is taken as long as possible: all
    trailing ASCII digits (with one decimal point), or else all trailing Chinese numeral
    characters. It is *not* a labelled score, and ``None`` is returned, when

    * there is no numeric tail, or the text after the numeral is more text
      (``渭南市第一小学``, ``第一小学``: the numeral is inside the name);
    * the label is empty (``十八`` is a plain number, not a label);
    * the label contains anything but letters (``3号18``), or the tail is not a number
      ``parse_number`` accepts (``目标18.5.1``, ``目标点五``);
    * the label ends with ``第``: ``第一``, ``第十八``, ``渭南市第一``, ``第3`` are ordinals
      that belong to a name, never "label 第 + score";
    * the label ends with ``负`` (minus): ``负十八``, ``目标负18`` are negative numbers.

    Because the Chinese tail is maximal, ``目标十八`` is (目标, 18) and never (目标十, 8).
    """
    token = unicodedata.normalize("NFKC", token).strip()
    body = token[: -len(_SUFFIX)] if token.endswith(_SUFFIX) else token
    # Scan from the end by hand: a regex anchored at the end is retried from every start
    # position, which is quadratic on a long line of digits.
    cut = len(body)
    while cut > 0 and body[cut - 1] in _DIGIT_CHARS:
        cut -= 1
    if cut == len(body):
        while cut > 0 and body[cut - 1] in _CN_NUMERAL:
            cut -= 1
    label, tail = body[:cut], body[cut:]
    if not tail or not label or not label.isalpha() or label.endswith(_NOT_LABEL_ENDINGS):
        return None
    value = parse_number(tail)
    if value is None:
        return None
    return label, value
