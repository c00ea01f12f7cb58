"""One cell ⇄ one config value, for each column kind of ``bot.workbook.sheets``.

``read_cell`` returns the TOML value, or ``None`` for a blank cell, and raises ``CellError``
with a Chinese problem for a cell it cannot read. ``write_cell`` is its inverse for export.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.workbook.sheets import AGGREGATES, PLATFORMS, ROLES, YES, Kind

_SPLIT = re.compile(r"[、，,；;\n/]+|\s+")
_DATETIME = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?:\s*日\s*|\s+)"
    r"(\d{1,2})(?:\s*[:：点时]\s*(\d{1,2})?)?\s*分?$"
)
_OFFSET = re.compile(r"^(\d+)\s*(天|d|小时|h|分钟|分|m)$")
_UNITS = {"天": "d", "d": "d", "小时": "h", "h": "h", "分钟": "m", "分": "m", "m": "m"}
_UNIT_NAMES = {"d": "天", "h": "小时", "m": "分钟"}
NO_REMINDER = "不提醒"


class CellError(ValueError):
    """A cell that cannot be read; ``str()`` is the Chinese problem."""


def cell_text(value: Any) -> str:
    """A cell's value as text: numbers without ``.0`` (mobiles typed as numbers)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def split_list(text: str) -> list[str]:
    """Names separated by 、，; or line breaks or spaces; "李  强" (padded) stays one name."""
    tokens = [t for t in _SPLIT.split(text) if t]
    names: list[str] = []
    for token in tokens:
        # 附件1 pads two-character names to the width of three: "李  强", "陈 林".
        if names and len(token) == 1 and len(names[-1]) == 1:
            names[-1] += token
        else:
            names.append(token)
    return names


def read_cell(kind: Kind, value: Any) -> Any:
    """The config value of a cell of this kind; ``None`` when the cell is blank."""
    if isinstance(value, datetime | date | time) and kind in ("datetime", "time"):
        return _read_temporal(kind, value)
    text = cell_text(value)
    if not text:
        return None
    reader = _READERS.get(kind)
    return reader(text) if reader else text


def _read_temporal(kind: Kind, value: datetime | date | time) -> str:
    if kind == "time":
        if isinstance(value, time | datetime):
            return value.strftime("%H:%M")
        raise CellError("应是时刻，如 18:00")
    if isinstance(value, datetime) and value.time() != time(0, 0):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        # Excel keeps a date typed without a time as midnight: a deadline "2月7日" would fall
        # due as the day begins. Ask for the time instead of guessing it.
        day = value.date() if isinstance(value, datetime) else value
        raise CellError(f"“{day.isoformat()}”缺少时刻，应写成 {day.isoformat()} 18:00")
    raise CellError("缺少日期，应写成 2022-02-13 08:00")


def _datetime(text: str) -> str:
    match = _DATETIME.match(text)
    if not match:
        raise CellError(f"“{text}”不是日期时间，应写成 2022-02-13 08:00")
    year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups())
    try:
        when = datetime(year, month, day, hour, minute)  # noqa: DTZ001 - the config's zone applies
    except ValueError as exc:
        raise CellError(f"“{text}”不是有效的日期时间") from exc
    return when.strftime("%Y-%m-%d %H:%M")


def _time(text: str) -> str:
    if text == NO_REMINDER:
        return ""
    match = re.match(r"^(\d{1,2})\s*[:：点]\s*(\d{1,2})?$", text)
    if not match or int(match.group(1)) > 23 or int(match.group(2) or 0) > 59:
        raise CellError(f"“{text}”不是时刻，应写成 18:00 或“{NO_REMINDER}”")
    return f"{int(match.group(1)):02d}:{int(match.group(2) or 0):02d}"


def _offsets(text: str) -> list[str]:
    offsets: list[str] = []
    for part in split_list(text.replace("提前", "")):
        match = _OFFSET.match(part)
        if not match:
            raise CellError(f"“{part}”不是提醒时间，应写成 3天、2小时 或 30分钟")
        offsets.append(f"{int(match.group(1))}{_UNITS[match.group(2)]}")
    return offsets


def _roles(text: str) -> list[str]:
    roles: list[str] = []
    for part in split_list(text):
        role = ROLES.get(part.removesuffix("人"), part if part in ROLES.values() else None)
        if role is None:
            raise CellError(f"“{part}”不是角色，应是 {'、'.join(ROLES)} 之一")
        roles.append(role)
    return roles


def _choice(table: dict[str, str], what: str) -> Any:
    def read(text: str) -> str:
        if text in table.values():
            return text
        if text not in table:
            raise CellError(f"“{text}”不是{what}，应是 {'或'.join(table)}")
        return table[text]

    return read


def _bool(text: str) -> bool:
    if text in (YES, "是的", "对", "√", "✓", "true", "TRUE", "1"):
        return True
    if text in ("否", "不", "不是", "×", "false", "FALSE", "0"):
        return False
    raise CellError(f"“{text}”应填“是”或“否”")


def _int(text: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise CellError(f"“{text}”不是整数")
    return int(text)


def _decimal(text: str) -> int | float:
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise CellError(f"“{text}”不是数字") from exc
    if not number.is_finite() or number <= 0:
        raise CellError(f"“{text}”应是大于 0 的数字")
    return int(number) if number == number.to_integral_value() else float(number)


_READERS: dict[str, Any] = {
    "list": split_list,
    "refs": split_list,
    "roles": _roles,
    "platform": _choice(PLATFORMS, "平台"),
    "aggregate": _choice(AGGREGATES, "计分方式"),
    "bool": _bool,
    "int": _int,
    "decimal": _decimal,
    "datetime": _datetime,
    "time": _time,
    "offsets": _offsets,
}


def write_cell(kind: Kind, value: Any) -> str:
    """The cell text for a config value (the inverse of ``read_cell``)."""
    if isinstance(value, bool):
        return YES if value else "否"
    if kind == "roles":
        names = {v: k for k, v in ROLES.items()}
        return "、".join(names.get(str(r), str(r)) for r in value)
    if kind == "platform":
        return {v: k for k, v in PLATFORMS.items()}.get(str(value), str(value))
    if kind == "aggregate":
        return {v: k for k, v in AGGREGATES.items()}.get(str(value), str(value))
    if kind == "offsets":
        items = [value] if isinstance(value, str) else value
        return "、".join(_offset_text(str(v)) for v in items)
    if kind == "time" and value == "":
        return NO_REMINDER
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    return str(value)


def _offset_text(offset: str) -> str:
    match = re.fullmatch(r"(\d+)([dhm])", offset)
    return f"{match.group(1)}{_UNIT_NAMES[match.group(2)]}" if match else offset
