"""Organizers' chat edits (``storage.setup_models.ConfigEdit``) written into the TOML file
with tomlkit, so its comments and layout stay as the clerk or engineer left them.

Each edit is idempotent on the file (a judge already swapped, a contestant already there,
the same start time): two ``serve`` instances writing the same edit leave one change.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT

from bot.config import settings_from_mapping
from bot.errors import ConfigError
from storage.setup_models import ConfigEdit


def apply_edits(text: str, edits: Sequence[ConfigEdit]) -> tuple[str, dict[int, str]]:
    """``text`` with ``edits`` applied, and why, by edit id, those whose venue the file
    lacks were not."""
    doc = tomlkit.parse(text)
    venues = doc.get("venues", doc.get("forums"))
    missed: dict[int, str] = {}
    for edit in edits:
        entry = _venue(venues, edit.venue_key)
        if entry is None:
            missed[edit.id] = f"配置文件中没有会场 {edit.venue_key}"
            continue
        _apply(entry, edit.kind, edit.change)
    return tomlkit.dumps(doc), missed


def _venue(venues: Any, key: str) -> Any:
    if not isinstance(venues, AoT):
        return None
    return next((t for t in venues if t.get("key") == key), None)


def _apply(entry: Any, kind: str, change: dict[str, Any]) -> None:
    if kind == "swap_judge":
        judges = _as_array(entry, "judges")
        for i, name in enumerate(list(judges)):
            if name == change["old"]:
                judges[i] = change["new"]
    elif kind == "add_contestant":
        contestants = _as_array(entry, "contestants")
        if change["name"] not in list(contestants):
            contestants.append(change["name"])
    elif kind == "move_time":
        entry["starts_at"] = change["starts_at"]


def _as_array(entry: Any, key: str) -> Any:
    """The list under ``key`` (a lone string, which the loader also accepts, becomes one)."""
    value = entry.get(key)
    if isinstance(value, str):
        entry[key] = [value]
    return entry[key]


def write_checked(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, after checking it is a valid config."""
    settings_from_mapping(tomllib.loads(text), source=str(path), base_dir=path.resolve().parent)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # instances may share the file
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        shutil.copymode(path, tmp)  # the file may hold secrets readable by one user only
    tmp.replace(path)


def write_edits(path: Path, edits: Sequence[ConfigEdit]) -> dict[int, str]:
    """Apply ``edits`` to the file at ``path``; why, by edit id, some could not be.

    Raises ``ConfigError`` when the edited file would not load (nothing is written then).
    """
    text = path.read_text(encoding="utf-8-sig")
    new_text, missed = apply_edits(text, edits)
    if new_text != text:
        write_checked(path, new_text)
    return missed


__all__ = ["ConfigError", "apply_edits", "write_checked", "write_edits"]
