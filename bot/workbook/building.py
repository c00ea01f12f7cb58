"""Rows → the config's campaign sections, checked across sheets, every problem in Chinese.

Names are what clerks know, so the sheets refer to groups and rubrics by name (a key also
works). A blank 代号 takes the key of the entry of the same name in the existing config, else
the name itself, so the database's references survive a re-import. Fields no column carries
(a rubric's ``tie_break``, say) are kept from the existing entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.config.base import squeeze
from bot.workbook.reading import Problem, Reading, Row
from bot.workbook.sheets import DEADLINES, GROUPS, PEOPLE, RUBRICS, SHEETS, UNITS, VENUES, Sheet

Entry = dict[str, Any]


@dataclass
class Built:
    """The campaign sections built, where each entry came from, and the problems found."""

    sections: dict[str, list[Entry]] = field(default_factory=dict)
    origins: dict[str, tuple[Sheet, Row]] = field(default_factory=dict)
    """``"venues[1]"`` → the sheet and row it was read from."""
    problems: list[Problem] = field(default_factory=list)

    def add(self, sheet: Sheet, row: Row, entry: Entry) -> None:
        """Append ``entry`` to its section, remembering the row it came from."""
        entries = self.sections.setdefault(sheet.section, [])
        self.origins[f"{sheet.section}[{len(entries)}]"] = (sheet, row)
        entries.append(entry)

    def problem(self, sheet: Sheet, row: Row, field_name: str, text: str) -> None:
        """Record a problem in ``row``'s cell of the column that fills ``field_name``."""
        header = sheet.column(field_name).header if field_name else ""
        self.problems.append(Problem(sheet.name, row.number, header, text))


def build(reading: Reading, existing: Mapping[str, Any]) -> Built:
    """The campaign sections from ``reading``; ``existing`` is the config being updated."""
    built = Built(sections={sheet.section: [] for sheet in SHEETS})
    rows = reading.rows
    _units(built, rows.get(UNITS.name, []))
    _people(built, rows.get(PEOPLE.name, []))
    _groups(built, rows.get(GROUPS.name, []), existing)
    _rubrics(built, rows.get(RUBRICS.name, []), existing)
    _venues(built, rows.get(VENUES.name, []), existing)
    _deadlines(built, rows.get(DEADLINES.name, []), existing)
    _keep_unlisted_fields(built, existing)
    return built


def _unique(built: Built, sheet: Sheet, row: Row, field_name: str, seen: set[str]) -> bool:
    value = squeeze(str(row.values.get(field_name, "")))
    if value and value in seen:
        built.problem(sheet, row, field_name, f"“{value}”重复出现")
        return False
    seen.add(value)
    return True


def _units(built: Built, rows: list[Row]) -> None:
    seen: set[str] = set()
    for row in rows:
        if "name" in row.values and _unique(built, UNITS, row, "name", seen):
            built.add(UNITS, row, dict(row.values))
    for row in rows:
        parent = squeeze(row.values.get("parent", ""))
        if parent and parent not in seen:
            built.problem(UNITS, row, "parent", f"“{parent}”不在单位表中")


def _people(built: Built, rows: list[Row]) -> None:
    units = {squeeze(u["name"]) for u in built.sections["units"]}
    seen: set[str] = set()
    for row in rows:
        unit = squeeze(row.values.get("unit", ""))
        if unit and units and unit not in units:
            built.problem(PEOPLE, row, "unit", f"“{unit}”不在单位表中")
        if "name" in row.values and _unique(built, PEOPLE, row, "name", seen):
            built.add(PEOPLE, row, dict(row.values))


def _existing_key(existing: Mapping[str, Any], section: str, name_field: str, name: str) -> str:
    for entry in existing.get(section, ()):
        if isinstance(entry, Mapping) and squeeze(str(entry.get(name_field, ""))) == squeeze(name):
            return str(entry.get("key", ""))
    return ""


def _key(values: Entry, existing: Mapping[str, Any], section: str, name_field: str) -> str:
    name = str(values.get(name_field, ""))
    return str(values.get("key") or _existing_key(existing, section, name_field, name) or name)


def _groups(built: Built, rows: list[Row], existing: Mapping[str, Any]) -> None:
    seen: set[str] = set()
    for row in rows:
        if "name" not in row.values or not _unique(built, GROUPS, row, "name", seen):
            continue
        entry = {"key": _key(row.values, existing, "groups", "name"), **row.values}
        built.add(GROUPS, row, entry)


def _rubrics(built: Built, rows: list[Row], existing: Mapping[str, Any]) -> None:
    by_name: dict[str, Entry] = {}
    for row in rows:
        name = row.values.get("name")
        if name is None or "item.name" not in row.values or "item.max" not in row.values:
            continue
        rubric = by_name.get(name)
        if rubric is None:
            head = {k: v for k, v in row.values.items() if not k.startswith("item.")}
            rubric = {"key": _key(head, existing, "rubrics", "name"), **head, "items": []}
            by_name[name] = rubric
            built.add(RUBRICS, row, rubric)
        labels = {label for item in rubric["items"] for label in (item["name"], *item["aliases"])}
        item = {k.removeprefix("item."): v for k, v in row.values.items() if k.startswith("item.")}
        item.setdefault("aliases", [])
        for label in (item["name"], *item["aliases"]):
            if label in labels:
                built.problem(RUBRICS, row, "item.name", f"“{label}”在“{name}”中重复出现")
        rubric["items"].append(item)


class _Refs:
    """Resolving the names a row uses: groups and rubrics by name or key, people, units."""

    def __init__(self, built: Built) -> None:
        s = built.sections
        self.groups = {g["name"]: g["key"] for g in s["groups"]} | {
            g["key"]: g["key"] for g in s["groups"]
        }
        self.rubrics = {r["name"]: r["key"] for r in s["rubrics"]} | {
            r["key"]: r["key"] for r in s["rubrics"]
        }
        self.people = {squeeze(p["name"]) for p in s["people"]}
        self.units = {squeeze(u["name"]) for u in s["units"]} | {
            squeeze(p.get("unit", "")) for p in s["people"] if p.get("unit")
        }

    def resolve(
        self, built: Built, sheet: Sheet, row: Row, field_name: str, table: Callable[[str], str]
    ) -> None:
        """Replace ``row.values[field_name]`` (a name or list of names) by keys, or complain."""
        value = row.values.get(field_name)
        if value is None:
            return
        names = [value] if isinstance(value, str) else list(value)
        keys = [table(n) for n in names]
        for name, key in zip(names, keys, strict=True):
            if not key:
                built.problem(sheet, row, field_name, f"“{name}”不在{_TABLE_NAMES[field_name]}中")
        row.values[field_name] = keys[0] if isinstance(value, str) else keys

    def need(
        self,
        built: Built,
        sheet: Sheet,
        row: Row,
        field_name: str,
        *,
        known: Iterable[str],
        what: str,
    ) -> None:
        """Complain about every name in ``row.values[field_name]`` not in ``known``."""
        value = row.values.get(field_name)
        names = [] if value is None else [value] if isinstance(value, str) else value
        known_set = set(known)
        for name in names:
            if squeeze(name) not in known_set:
                built.problem(sheet, row, field_name, f"“{name}”不在{what}中")


_TABLE_NAMES = {
    "group": "群表",
    "results_to": "群表",
    "escalate_to": "群表",
    "rubric": "评分表",
}


def _venues(built: Built, rows: list[Row], existing: Mapping[str, Any]) -> None:
    refs = _Refs(built)
    keys: set[str] = set()
    for row in rows:
        if not {"title", "starts_at", "rubric"} <= row.values.keys():
            continue
        for name in ("group", "results_to"):
            refs.resolve(built, VENUES, row, name, lambda n: refs.groups.get(n, ""))
        refs.resolve(built, VENUES, row, "rubric", lambda n: refs.rubrics.get(n, ""))
        refs.need(built, VENUES, row, "host", known=refs.people, what="人员表")
        refs.need(built, VENUES, row, "judges", known=refs.people, what="人员表")
        place = str(row.values.get("location") or row.values["title"])
        key = str(
            row.values.get("key")
            or _existing_venue_key(existing, row.values)
            or _fresh(place, keys)
        )
        if key in keys:
            built.problem(VENUES, row, "key", f"“{key}”重复出现")
        keys.add(key)
        built.add(VENUES, row, {"key": key, **row.values})


def _existing_venue_key(existing: Mapping[str, Any], values: Entry) -> str:
    wanted = (values.get("title"), values.get("location", ""))
    for entry in existing.get("venues", existing.get("forums", ())):
        if isinstance(entry, Mapping) and (entry.get("title"), entry.get("location", "")) == wanted:
            return str(entry.get("key", ""))
    return ""


def _fresh(name: str, taken: set[str]) -> str:
    key, n = name, 2
    while key in taken:
        key, n = f"{name}{n}", n + 1
    return key


def _deadlines(built: Built, rows: list[Row], existing: Mapping[str, Any]) -> None:
    refs = _Refs(built)
    keys: set[str] = set()
    for row in rows:
        if not {"title", "due", "submitters"} <= row.values.keys():
            continue
        for name in ("group", "escalate_to"):
            refs.resolve(built, DEADLINES, row, name, lambda n: refs.groups.get(n, ""))
        refs.need(
            built,
            DEADLINES,
            row,
            "submitters",
            known=refs.people | refs.units,
            what="人员表或单位表",
        )
        key = _key(row.values, existing, "deadlines", "title")
        if key in keys:
            built.problem(DEADLINES, row, "key", f"“{key}”重复出现")
        keys.add(key)
        built.add(DEADLINES, row, {"key": key, **row.values})
    # A repeating deadline (周报) has no row: it is kept as the config file has it.
    for old in existing.get("deadlines", ()):
        if isinstance(old, Mapping) and old.get("repeat") and str(old.get("key")) not in keys:
            built.sections["deadlines"].append(dict(old))


def _keep_unlisted_fields(built: Built, existing: Mapping[str, Any]) -> None:
    """Copy the fields no column carries from the existing entry of the same key or name."""
    for sheet in SHEETS:
        listed = {c.field for c in sheet.columns} | {"key", "items"}
        ident = "name" if sheet.section in ("people", "units") else "key"
        old = {
            str(e.get(ident)): e for e in existing.get(sheet.section, ()) if isinstance(e, Mapping)
        }
        for entry in built.sections[sheet.section]:
            before = old.get(str(entry.get(ident)), {})
            for name, value in before.items():
                if name not in listed and name not in entry:
                    entry[name] = value
