"""Text → command: read what a chat message asks for.

``parse`` is pure and total: every string, however garbled, gives exactly one ``Command``.
The steps, in order:

1. Leading @-mentions are removed from every line (``@教育局助手 评分 …``, WeCom's
   ``@机器人`` + U+2005, DingTalk's leading space).
2. The first non-empty line is normalised (``numbers.normalize``) and its first word, with
   or without a following space, picks the command; an unknown word gives ``Unknown``.
3. 提交 keeps the rest of the *original* text (links and free text must survive); every
   other command reads the normalised rest of the first line; 评分 / 更正 read each line
   as one contestant's scores (see ``_parse_score_line``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import partial

from handlers.commands import (
    Command,
    Confirm,
    Export,
    Help,
    LineError,
    Mine,
    Missing,
    Progress,
    Publish,
    Ranking,
    Score,
    ScoreLine,
    ScoreValue,
    Submit,
    Submitted,
    Unknown,
    Unpublish,
    Urge,
)
from handlers.desk_words import DESK_PARSERS, DESK_WORDS
from handlers.examples import EXAMPLE_SLOT
from handlers.numbers import normalize, parse_number, split_label
from handlers.review_parsing import REVIEW_ACTIONS, parse_review
from handlers.setup_commands import SETUP_PARSERS, SETUP_WORDS

__all__ = ["parse"]

# --- @-mentions -------------------------------------------------------------------------
# A mention runs from "@" to the next space; WeCom ends it with U+2005 and some clients with
# NBSP or a zero-width space, which ``\s`` does not cover, hence the explicit class.
_GAP = r"[\s\u200b\u200c\u200d\u2060\ufeff]"
_MENTIONS = re.compile(rf"{_GAP}*(?:@(?:(?!{_GAP}).)*{_GAP}*)+")


def _strip_mentions(line: str) -> str:
    """Drop leading @-mentions; a line without one is returned untouched (it may be content)."""
    match = _MENTIONS.match(line)
    return line if match is None else line[match.end() :]


# --- command words ----------------------------------------------------------------------
_SCORE = "score"
_CORRECT = "correct"
_SUBMIT = "submit"
_WORDS: dict[str, str] = {
    "评分": _SCORE,
    "打分": _SCORE,
    "更正": _CORRECT,
    "修改": _CORRECT,
    "进度": "progress",
    "排名": "ranking",
    "成绩": "ranking",
    "排行": "ranking",
    "排行榜": "ranking",
    "公布": "publish",
    "发布": "publish",
    "撤销公布": "unpublish",
    "取消公布": "unpublish",
    "撤回公布": "unpublish",
    "确认": "confirm",
    "导出": "export",
    "提交": _SUBMIT,
    "上交": _SUBMIT,
    "未交": "missing",
    "未提交": "missing",
    "我的": "mine",
    "待办": "mine",
    "已交": "submitted",
    "已提交": "submitted",
    "退回": "returned",
    "通过": "accepted",
    "免交": "exempted",
    "延期": "extended",
    "催交": "urge",
    "帮助": "help",
    "菜单": "help",
    "help": "help",
    "?": "help",
    **SETUP_WORDS,  # 绑定, 同意, 换评委 … (handlers.setup_commands)
    **DESK_WORDS,  # 后台, 看板 (handlers.desk_words)
}
# Longest first, so 排行榜 is not read as 排行 with the venue "榜".
_WORD_ORDER = sorted(_WORDS, key=len, reverse=True)
_SCORE_WORDS = [w for w in _WORD_ORDER if _WORDS[w] in (_SCORE, _CORRECT)]


def _match_word(line: str, words: Sequence[str]) -> tuple[str, str] | None:
    """(word, rest) when *line* starts with one of *words*, glued or followed by a space."""
    for word in words:
        # Only ASCII words have case; comparing a slice keeps indexes of *line* valid.
        if line[: len(word)].lower() != word:
            continue
        rest = line[len(word) :]
        # "help" must be a word of its own: "helper" is not a command.
        if word.isascii() and word.isalpha() and rest[:1].isascii() and rest[:1].isalpha():
            continue
        return word, rest.strip()
    return None


# --- score lines --------------------------------------------------------------------------
# The parser does not know the judge's rubric: the handler puts their own example in.
_EXAMPLE = EXAMPLE_SLOT
# Words that label a bare total. A lone "word number" after the contestant is otherwise
# read as venue + contestant + total ("瑞泉中学会场 杜桥中学 86"), see _parse_score_line.
_TOTAL_WORDS = frozenset({"总分", "总计", "合计", "总成绩", "得分", "总得分", "分数"})
# Sentence marks people end a line with ("…20 9。"); they are not part of a score.
_TRAILING_MARKS = "。.!?~"
# Quotes and brackets around a name (“瑞泉中学”, 【杜桥中学】) are not part of it.
_QUOTES = "\"'“”‘’「」『』【】《》"
# Runs of digits and of everything else, to split 目标18措施22进展17 (typed without spaces).
_RUNS = re.compile(r"[0-9.]+|[^0-9.]+")
_FEN = "分"
# Looks like a number but is not one we accept: 18.5.1, 1e5, +18, 18%, 目标18.5.1.
# ``\.*[0-9][0-9.]*`` rather than ``[0-9.]*[0-9][0-9.]*``: the same strings without the
# quadratic backtracking on a long run of digits.
_NUMBERISH = re.compile(r"(?P<label>[^\W\d_]*)[+\-−]?\.*[0-9][0-9.]*(?:[eE][+\-]?[0-9]+)?[分%]?")
# 第3 is an ordinal (a contestant reference), not a broken score.
_ORDINAL = "第"
_MINUS = "-−"
_NEGATIVE_WORD = "负"


def _is_punctuation(token: str) -> bool:
    """A token made only of punctuation or symbols ("-", "—", "/", "。") separates, nothing more."""
    return all(unicodedata.category(ch)[0] in "PS" for ch in token)


def _tokens(text: str) -> list[str]:
    """Split a normalised line into words, dropping separators and expanding glued labels."""
    tokens: list[str] = []
    for typed in text.split():
        word = typed.strip(_QUOTES).rstrip(_TRAILING_MARKS).strip(_QUOTES)
        if not word or _is_punctuation(word):
            continue
        # "3 号" is one contestant reference, the way ScoreLine.target promises ("3号").
        if word == "号" and tokens and tokens[-1].isascii() and tokens[-1].isdigit():
            tokens[-1] += word
        elif tokens and (pieces := _split_glued(word)):
            tokens.extend(pieces)
        else:
            tokens.append(word)
    return tokens


def _split_glued(word: str) -> list[str]:
    """``目标18分措施22分`` → ``["目标18分", "措施22分"]``; ``[]`` unless every piece is labelled.

    The word alternates letter runs and digit runs; a 分 that starts a letter run is the
    suffix of the number before it, not part of the next label.
    """
    runs = _RUNS.findall(word)
    pieces: list[str] = []
    for index in range(0, len(runs), 2):
        label, number = runs[index], "".join(runs[index + 1 : index + 2])
        if pieces and label.startswith(_FEN):
            pieces[-1] += _FEN
            label = label[len(_FEN) :]
        if label or number:
            pieces.append(label + number)
    if len(pieces) < 2 or not all(split_label(piece) for piece in pieces):
        return []
    return pieces


def _is_bare_label(token: str) -> bool:
    """A word that may name a rubric item ("目标", "总分") but is not itself a number."""
    return token.isalpha() and parse_number(token) is None


def _is_labelled(token: str) -> bool:
    return split_label(token) is not None or _is_bare_label(token)


def _negative(token: str, example: str) -> str | None:
    """The refusal for a negative score (-18, −18, 负十八, 目标-18), else None."""
    for sign in (*_MINUS, _NEGATIVE_WORD):
        head, found, tail = token.partition(sign)
        if found and (not head or head.isalpha()) and parse_number(tail) is not None:
            return f"分数不能是负数（收到“{token}”）。请重新发送，例如：{example}"
    return None


def _malformed(token: str, example: str) -> str | None:
    """The refusal for a token that looks like a number but is not one we accept, else None.

    Call it only after ``parse_number`` and ``split_label`` have refused the token.
    """
    numberish = _NUMBERISH.fullmatch(token)
    if numberish is None or numberish.group("label").endswith(_ORDINAL):
        return None
    return f"“{token}”不是有效的分数，请写整数或小数（如 18 或 18.5）。请重新发送，例如：{example}"


def _parse_score_line(line_no: int, raw: str, text: str) -> ScoreLine | LineError:
    """Read one contestant's scores from the normalised *text* of a line.

    The first word is always (part of) the contestant. Further words join it until the
    first score: a number, a labelled number (``目标18``) or a word followed by a number
    (``目标 18``). After the first score only scores may follow.

    A word followed by a number right after the contestant is ambiguous: ``瑞泉中学 总分 86``
    (label) versus ``瑞泉中学会场 杜桥中学 86`` (venue, contestant, total). It is read as a
    label when it is a total word (总分, 合计, ...) or when another score on the line is
    labelled too (``瑞泉中学 目标 18 措施 22 …``); otherwise it joins the contestant
    (``瑞泉中学会场 杜桥中学 18 22 17 20 9``).
    """
    example = _EXAMPLE
    tokens = _tokens(text)
    target = tokens[:1]
    start = None
    for k in range(1, len(tokens)):
        token = tokens[k]
        refusal = _negative(token, example)
        if refusal is not None:
            return LineError(line_no, raw, refusal)
        if parse_number(token) is not None or split_label(token) is not None:
            start = k
            break
        refusal = _malformed(token, example)
        if refusal is not None:
            return LineError(line_no, raw, refusal)
        if (
            _is_bare_label(token)
            and k + 1 < len(tokens)
            and parse_number(tokens[k + 1]) is not None
            and (token in _TOTAL_WORDS or any(_is_labelled(t) for t in tokens[k + 2 :]))
        ):
            start = k
            break
        target.append(token)
    if start is None:
        return LineError(line_no, raw, f"没有收到分数。请在选手后面写上各项得分，例如：{example}")
    values = _read_values(tokens[start:], example)
    if isinstance(values, str):
        return LineError(line_no, raw, values)
    return ScoreLine(line_no, raw, " ".join(target), values)


def _read_values(tokens: Sequence[str], example: str) -> tuple[ScoreValue, ...] | str:
    """The scores in *tokens*, or the refusal (a str) naming the first word that is not one."""
    values: list[ScoreValue] = []
    k = 0
    while k < len(tokens):
        token = tokens[k]
        refusal = _negative(token, example)
        if refusal is not None:
            return refusal
        number = parse_number(token)
        if number is not None:
            values.append(ScoreValue(None, number))
            k += 1
            continue
        labelled = split_label(token)
        if labelled is not None:
            values.append(ScoreValue(*labelled))
            k += 1
            continue
        following = parse_number(tokens[k + 1]) if k + 1 < len(tokens) else None
        if _is_bare_label(token) and following is not None:
            values.append(ScoreValue(token, following))
            k += 2
            continue
        refusal = _malformed(token, example)
        if refusal is not None:
            return refusal
        return f"看不懂“{token}”：分数后面只能再写分数（可带评分项名）。请重新发送，例如：{example}"
    return tuple(values)


def _parse_score(lines: Sequence[tuple[int, str, str]], first_rest: str, correction: bool) -> Score:
    """A 评分 / 更正 batch: the rest of line 1, then one contestant per non-empty line.

    A line may repeat the command word (``评分 韩马 19 …`` on every line); it is dropped.
    """
    read: list[ScoreLine | LineError] = []
    for index, (line_no, raw, line) in enumerate(lines):
        text = first_rest if index == 0 else line
        if index > 0:
            repeated = _match_word(line, _SCORE_WORDS)
            if repeated is not None:
                text = repeated[1]
        if _tokens(text):
            read.append(_parse_score_line(line_no, raw, text))
    return Score(tuple(read), correction)


# --- 提交 -----------------------------------------------------------------------------------
_MATERIAL = re.compile(r"[^\s,，、;；:：]+")
_CONTENT_LEAD = " \t\r\n\u3000,，、;；:："


def _parse_submit(original: str, word: str, rest: str) -> Submit:
    """提交 <材料名> <内容>: the material is the first word, the content the original rest.

    *original* is the message from its first non-empty line on, mentions removed. The
    content is not normalised so links and free text keep every character; only the
    whitespace and separators around it are stripped.
    """
    head = original.lstrip()
    at = head.find(word)
    after = head[at + len(word) :] if at >= 0 else rest
    first_line, newline, more = after.partition("\n")
    match = _MATERIAL.search(first_line)
    if match is None:
        return Submit("", (first_line + newline + more).strip(_CONTENT_LEAD))
    material = match.group()
    # 提交书面报告https://… : the link is content even when glued to the name, and
    # 提交 https://… names no material at all.
    link = material.find("http")
    if link == 0:
        return Submit("", (first_line + newline + more).strip(_CONTENT_LEAD))
    if link > 0:
        material = material[:link]
    content = first_line[match.start() + len(material) :] + newline + more
    return Submit(normalize(material), content.strip(_CONTENT_LEAD))


# --- other commands -----------------------------------------------------------------------
_FORMATS = {"csv": "csv", "xlsx": "xlsx", "xls": "xlsx", "excel": "xlsx"}


def _parse_export(rest: str) -> Export:
    """导出 [会场] [csv|xlsx|excel]: a trailing format word, anything before is the venue."""
    words = rest.split()
    if words:
        fmt = _FORMATS.get(words[-1].lower().lstrip("."))
        if fmt is not None:
            return Export(" ".join(words[:-1]), fmt)
    return Export(rest)


_SIMPLE: dict[str, Callable[[str], Command]] = {
    "progress": Progress,
    "ranking": Ranking,
    "publish": Publish,
    "unpublish": Unpublish,
    "confirm": Confirm,
    "export": _parse_export,
    "missing": Missing,
    "mine": lambda _rest: Mine(),
    "submitted": Submitted,
    "urge": Urge,
    **{action: partial(parse_review, action) for action in REVIEW_ACTIONS},
    "help": lambda _rest: Help(),
    **SETUP_PARSERS,
    **DESK_PARSERS,
}


def parse(text: str) -> Command:
    """Read one chat message as a command; never raises.

    See the module docstring for the steps and ``_parse_score_line`` for how a score line
    is split into contestant and scores.
    """
    originals = [_strip_mentions(line) for line in text.splitlines()]
    normalised = [normalize(line) for line in originals]
    # (1-based line number, original line stripped, normalised line) for non-empty lines.
    lines = [
        (no, original.strip(), norm)
        for no, (original, norm) in enumerate(zip(originals, normalised, strict=True), start=1)
        if norm
    ]
    if not lines:
        return Unknown("")
    first_no, _first_raw, first_text = lines[0]
    matched = _match_word(first_text, _WORD_ORDER)
    if matched is None:
        return Unknown("\n".join(normalised).strip())
    word, rest = matched
    kind = _WORDS[word]
    if kind in (_SCORE, _CORRECT):
        return _parse_score(lines, rest, correction=kind == _CORRECT)
    if kind == _SUBMIT:
        return _parse_submit("\n".join(originals[first_no - 1 :]), word, rest)
    return _SIMPLE[kind](rest)
