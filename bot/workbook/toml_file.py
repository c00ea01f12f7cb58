"""The TOML side: replace the campaign sections of a config file (comments and the other
sections kept, via tomlkit), and read them back out as workbook rows for export.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import tomlkit
from tomlkit.items import AoT, Comment, Whitespace

from bot.config import (
    DeadlineConfig,
    GroupConfig,
    PersonConfig,
    RubricConfig,
    Settings,
    UnitConfig,
    VenueConfig,
    load_settings,
    settings_from_mapping,
)
from bot.config.base import squeeze
from bot.config.report import in_chinese
from bot.config_edits import config_write_lock, replace_file
from bot.errors import ConfigError
from bot.workbook.building import Built, build
from bot.workbook.cells import write_cell
from bot.workbook.reading import Problem, read_workbook
from bot.workbook.sheets import RUBRICS, SECTIONS, SHEETS, UNITS, Sheet
from bot.workbook.template import write_workbook

_OLD_SECTIONS = ("forums",)
"""Older names of sections the workbook owns (``[[forums]]`` is now ``[[venues]]``)."""
_NEW_FILE = 'timezone = "Asia/Shanghai"\n'


def read_raw(config: Path) -> str:
    """The config file's text; a new file's first line when it does not exist yet."""
    return config.read_text(encoding="utf-8-sig") if config.is_file() else _NEW_FILE


def import_workbook(workbook: Path, config: Path) -> list[Problem]:
    """Check ``workbook`` and, when it has no problem, write its campaign into ``config``.

    Returns every problem found (nothing is written then).
    """
    reading = read_workbook(workbook)
    with config_write_lock(config):
        text = read_raw(config)
        built = build(reading, tomllib.loads(text))
        problems = reading.problems + built.problems
        if problems:
            return problems
        new_text = replace_sections(text, built.sections)
        try:
            settings_from_mapping(tomllib.loads(new_text), source=str(config))
        except ConfigError as exc:
            return [_located(exc.file, key, problem, built) for key, problem in exc.problems]
        replace_file(config, new_text)
    return []


def imported(settings: Settings) -> str:
    """What a campaign holds, as ``edubot import`` and the desk report an import."""
    return (
        f"{len(settings.people)} 人，{len(settings.groups)} 个群，"
        f"{len(settings.rubrics)} 张评分表，{len(settings.venues)} 个会场，"
        f"{len(settings.deadlines)} 项材料"
    )


def export_workbook(config: Path, workbook: Path | BinaryIO) -> None:
    """Write the campaign of the config file ``config`` as the workbook import reads.

    Only a valid config is exported: a ``ConfigError`` says what is wrong with it.
    """
    load_settings(config)
    write_workbook(workbook, config_rows(tomllib.loads(read_raw(config))))


def _located(file: str, key: str, problem: str, built: Built) -> Problem:
    """One of the loader's complaints, in Chinese, placed on the row it came from where there
    is one."""
    text = in_chinese(problem)
    match = re.match(r"^(\w+\[\d+\])(?:\.(\w+))?", key)
    origin = built.origins.get(match.group(1)) if match else None
    if origin is None:
        return Problem(f"配置文件 {Path(file).name}", None, key, text)
    sheet, row = origin
    field = match.group(2) if match else None
    header = next((c.header for c in sheet.columns if c.field == field), "")
    return Problem(sheet.name, row.number, header, text)


def replace_sections(text: str, sections: Mapping[str, list[dict[str, Any]]]) -> str:
    """``text`` with the workbook's sections replaced by ``sections``; the rest unchanged."""
    doc = tomlkit.parse(text)
    for old in _OLD_SECTIONS:
        if old in doc:
            del doc[old]
    for name in SECTIONS:
        entries = sections.get(name, [])
        if not entries:
            if name in doc:
                del doc[name]
            continue
        current = doc.get(name)
        new = _aot(entries, _FIELD_ORDER[name], current if isinstance(current, AoT) else None)
        if isinstance(current, AoT):
            _keep_trailing_comments(current, new)
        doc[name] = new
    return tomlkit.dumps(doc)


def _keep_trailing_comments(old: AoT, new: AoT) -> None:
    """Move the comments after the old section's last entry (the next section's banner, in
    tomlkit's view part of this table) to the end of the new section."""
    if not old.body or not new.body:
        return
    body = old.body[-1].value.body
    tail: list[tuple[Any, Any]] = []
    while body and body[-1][0] is None and isinstance(body[-1][1], Comment | Whitespace):
        tail.insert(0, body.pop())
    new.body[-1].value.body.extend(tail)


_FIELD_ORDER = {
    "units": list(UnitConfig.model_fields),
    "groups": list(GroupConfig.model_fields),
    "people": list(PersonConfig.model_fields),
    "rubrics": list(RubricConfig.model_fields),
    "venues": list(VenueConfig.model_fields),
    "deadlines": list(DeadlineConfig.model_fields),
}
"""Keys in the order the models (and config.example.toml) list them."""


def _aot(entries: list[dict[str, Any]], order: list[str], old: AoT | None) -> AoT:
    """The entries as an array of tables; a value the old entry of the same identity already
    had keeps its old item, with its comment."""
    tables = tomlkit.aot()
    ident = "key" if "key" in order else "name"
    before = {str(t.get(ident)): t for t in (old.body if old is not None else [])}
    rank = {key: i for i, key in enumerate(order)}
    for entry in entries:
        table = tomlkit.table()
        previous = before.get(str(entry.get(ident)))
        for key, value in sorted(entry.items(), key=lambda kv: rank.get(kv[0], len(rank))):
            if previous is not None and key in previous and previous.item(key).unwrap() == value:
                table.add(key, previous.item(key))
            elif key == "items":
                items = tomlkit.array()
                for item in value:
                    inline = tomlkit.inline_table()
                    inline.update(item)
                    items.append(inline)
                table[key] = items.multiline(True)
            else:
                table[key] = value
        tables.append(table)
    return tables


def config_rows(data: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    """The workbook rows of a config's raw (uninterpolated) campaign sections."""
    groups = {g.get("key", ""): g.get("name") or g.get("key", "") for g in data.get("groups", [])}
    rows: dict[str, list[list[str]]] = {}
    for sheet in SHEETS:
        if sheet is RUBRICS:
            rows[sheet.name] = _rubric_rows(data.get("rubrics", []))
            continue
        if sheet is UNITS:
            entries = _all_units(data)
        elif sheet.section == "venues":
            entries = data.get("venues", data.get("forums", []))
        else:
            entries = data.get(sheet.section, [])
        if sheet.section == "deadlines":
            # The sheet has a due time per row; a repeating deadline stays in the config file
            # (import keeps it: bot.workbook.building).
            entries = [e for e in entries if not e.get("repeat")]
        rows[sheet.name] = [_row(sheet, entry, groups) for entry in entries]
    return rows


def _row(sheet: Sheet, entry: Mapping[str, Any], groups: Mapping[str, str]) -> list[str]:
    cells: list[str] = []
    for column in sheet.columns:
        value = entry.get(column.field)
        if value is None:
            cells.append("")
        elif column.kind in ("ref", "refs"):
            names = [value] if isinstance(value, str) else value
            cells.append(write_cell("list", [groups.get(n, n) for n in names]))
        else:
            cells.append(write_cell(column.kind, value))
    return [*cells, ""]  # the note column


def _rubric_rows(rubrics: list[Mapping[str, Any]]) -> list[list[str]]:
    rows: list[list[str]] = []
    for rubric in rubrics:
        for i, item in enumerate(rubric.get("items", [])):
            head = rubric if i == 0 else {"name": rubric.get("name") or rubric.get("key")}
            if "name" not in head or not head["name"]:
                head = {**head, "name": rubric.get("key")}
            flat = {**head, **{f"item.{k}": v for k, v in item.items()}}
            rows.append(_row(RUBRICS, flat, {}))
    return rows


def _all_units(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``[[units]]``, then any person's unit not listed there (older configs have none)."""
    units: list[Mapping[str, Any]] = list(data.get("units", []))
    seen = {squeeze(str(u.get("name", ""))) for u in units}
    for person in data.get("people", []):
        unit = squeeze(str(person.get("unit", "")))
        if unit and unit not in seen:
            seen.add(unit)
            units.append({"name": unit})
    return units
