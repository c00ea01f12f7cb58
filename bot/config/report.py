"""``edubot check-config``'s verdict on a file: every mistake at once, each with the file, the
line where it can be found, the key and a Chinese explanation with the fix; and warnings for
configs that are legal but probably not meant (a rubric not adding up to 100, a judge
without the ``judge`` role).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.config.desk import desk_address_warning
from bot.config.loading import load_settings
from bot.config.settings import Settings
from bot.errors import ConfigError

_KEY_PART = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?")


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """What check-config prints: the settings when valid, else every problem; warnings."""

    settings: Settings | None
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def check_file(path: str) -> ConfigReport:
    """Validate the file at ``path`` and describe everything wrong or suspicious in it."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        text = _read(path)
        lines = tuple(
            _line(exc.file, line_of(text, key), key, explain(problem))
            for key, problem in exc.problems
        )
        return ConfigReport(None, lines, ())
    return ConfigReport(settings, (), tuple(warnings(settings)))


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return ""


def _line(file: str, line: int | None, key: str, problem: str) -> str:
    where = f"{file}:{line}" if line else file
    return f"{where}: {key}: {problem}" if key else f"{where}: {problem}"


def line_of(text: str, key: str) -> int | None:
    """The 1-based line where ``key`` (``venues[1].judges[2]``) is written, found by
    walking the TOML text: the table header, then the key's first line below it."""
    if not text or not key:
        return None
    lines = text.splitlines()
    parts = _KEY_PART.findall(key)
    if not parts:
        return None
    table, index = parts[0]
    start = _table_start(lines, table, int(index) if index else None)
    if start is None:
        return None
    if len(parts) == 1:
        return start + 1
    name = parts[1][0]
    for number in range(start + 1, len(lines)):
        stripped = lines[number].strip()
        if stripped.startswith("["):
            break
        if re.match(rf"{re.escape(name)}\s*=", stripped):
            return number + 1
    return start + 1


def _table_start(lines: list[str], table: str, index: int | None) -> int | None:
    header = f"[[{table}]]" if index is not None else f"[{table}]"
    seen = -1
    for number, line in enumerate(lines):
        if line.strip().startswith(header):
            seen += 1
            if index is None or seen == index:
                return number
    if index is None:  # a top-level key
        for number, line in enumerate(lines):
            if re.match(rf"\s*{re.escape(table)}\s*=", line):
                return number
    return None


_EXPLAIN: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^cannot read the file.*$"),
        "读不到配置文件：请检查路径；第一次使用可把 config.example.toml 复制为 edubot.toml 再改",
    ),
    (re.compile(r"^unknown key"), "未知的键：请对照 config.example.toml 检查拼写，或删去这一行"),
    (re.compile(r"^required key is missing"), "缺少必填项：请补上这一项"),
    (
        re.compile(r"^Input should be a valid (datetime|date)"),
        "不是有效的日期时间：请写成 2026-04-10 08:30 或 2026-04-10T08:30:00",
    ),
    (re.compile(r"^Input should be a valid integer"), "应为整数，如 3"),
    (re.compile(r"^Input should be a valid (decimal|number)"), "应为数字，如 40 或 18.5"),
    (re.compile(r"^Input should be a valid boolean"), "应为 true 或 false（不加引号）"),
    (re.compile(r"^Input should be a valid string"), "应为文字，请加英文双引号"),
    (re.compile(r"^Input should be a valid (list|tuple)"), '应为列表，如 ["甲", "乙"]'),
    (re.compile(r"^Input should be (.+)$"), r"只能是 \1"),
    (re.compile(r"^String should have at least 1 character"), "不能为空"),
    (
        re.compile(r"^unknown (\w+) \(not in (\[\[\w+\]\])\) '(.+?)'(.*)$"),
        r"找不到“\3”（\1）：请先在 \2 中定义，或改正拼写\4",
    ),
    (re.compile(r"^unknown (\w+) '(.+?)'(.*)$"), r"找不到“\2”（\1）：请改正拼写\3"),
    (re.compile(r"^duplicate (\w+) '(.+?)'"), r"“\2”重复了：每个 \1 只能出现一次"),
    (re.compile(r"^environment variable (\w+) is not set"), r"环境变量 \1 未设置"),
    (re.compile(r"^max must be greater than 0"), "满分必须大于 0"),
    (
        re.compile(r"^a rubric needs at least one item"),
        "评分表至少要有一项：请在 items 中写上评分项",
    ),
    (re.compile(r"^item name or alias '(.+?)' is used twice"), r"评分项名或别名“\1”用了两次"),
    (re.compile(r"^the list is empty"), "列表不能为空"),
    (re.compile(r"^listed twice: (.+)$"), r"重复列出：\1"),
    (re.compile(r"^end is before start"), "结束时间早于开始时间"),
    (re.compile(r"^an EncodingAESKey has exactly 43 characters"), "EncodingAESKey 应为 43 个字符"),
    (re.compile(r"^unknown time zone '(.+)'"), r"未知的时区“\1”：如 Asia/Shanghai"),
)


def in_chinese(problem: str) -> str:
    """The problem in Chinese with what to do; as worded when there is no translation."""
    for pattern, chinese in _EXPLAIN:
        if pattern.search(problem):
            return pattern.sub(chinese, problem, count=1)
    return problem


def explain(problem: str) -> str:
    """The problem in Chinese with what to do, followed by the original wording."""
    chinese = in_chinese(problem)
    return problem if chinese == problem else f"{chinese}（{problem}）"


def warnings(settings: Settings) -> list[str]:
    """Legal but probably not meant: each with the key and what to check."""
    found: list[str] = []
    for i, rubric in enumerate(settings.rubrics):
        if rubric.total_max != Decimal(100):
            found.append(
                f"rubrics[{i}]（{rubric.key}）：各项满分合计 {rubric.total_max}，不是 100。"
                "请核对各项 max；如确实如此可忽略。"
            )
    chats = {g.key for g in settings.groups if g.chat_id}
    for i, venue in enumerate(settings.venues):
        if venue.group and venue.group not in chats:
            found.append(
                f"venues[{i}].group：会场群 {venue.group} 没有 chat_id，群里 @机器人 的消息认不出是"
                "这个会场的群。组织者在群里 @机器人 发“帮助”即可看到本群的 chat_id，"
                "填进该群的 [[groups]]。"
            )
    roles = {p.name: p.roles for p in settings.people}
    for i, venue in enumerate(settings.venues):
        for j, judge in enumerate(venue.judges):
            if judge in roles and "judge" not in roles[judge]:
                found.append(
                    f"venues[{i}].judges[{j}]：{judge} 是 {venue.key} 的评委，但 [[people]] 中"
                    '的 roles 没有 "judge"。请在其 roles 中加上 "judge"。'
                )
    desk = desk_address_warning(settings.server, settings.desk, settings.server.host)
    return [*found, desk] if desk else found
