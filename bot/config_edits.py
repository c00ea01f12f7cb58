"""Organizers' chat edits (``storage.setup_models.ConfigEdit``) written into the TOML file
with tomlkit, so its comments and layout stay as the clerk or engineer left them.

Each edit is idempotent on the file (a judge already swapped, a contestant already there,
the same start time): two ``serve`` instances writing the same edit leave one change.

Whoever rewrites the file (these edits, ``edubot import`` and the desk's upload, ``edubot
bind-ids``) reads, changes and writes it under ``config_write_lock``, so two writers in
different processes cannot each start from the old text and lose the other's change.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def config_write_lock(path: Path) -> Iterator[None]:
    """Hold the config file's writer lock (``flock`` on a file beside it) for the block:
    take it around reading the text that is then changed and written back."""
    lock = path.with_name(f".{path.name}.lock")
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a killed holder's lock goes with its process
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_checked(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, after checking it is a valid config."""
    settings_from_mapping(tomllib.loads(text), source=str(path), base_dir=path.resolve().parent)
    replace_file(path, text)


def replace_file(path: Path, text: str) -> None:
    """``path`` now holds ``text``, whole or not at all, with the old file's permissions."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # instances may share the file
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        shutil.copymode(path, tmp)  # the file may hold secrets readable by one user only
    tmp.replace(path)


def write_edits(path: Path, edits: Sequence[ConfigEdit]) -> dict[int, str]:
    """Apply ``edits`` to the file at ``path``; why, by edit id, some could not be.

    Raises ``ConfigError`` when the edited file would not load (nothing is written then).
    """
    with config_write_lock(path):
        text = path.read_text(encoding="utf-8-sig")
        new_text, missed = apply_edits(text, edits)
        if new_text != text:
            write_checked(path, new_text)
    return missed


__all__ = [
    "ConfigError",
    "apply_edits",
    "config_write_lock",
    "replace_file",
    "write_checked",
    "write_edits",
]
