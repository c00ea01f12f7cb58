"""Durable by default (issue 17, item 9): on SQLite every commit is synced to disk
(``synchronous=FULL``), so a message answered 200 survives a power cut, not only a killed
process; ``normal`` stays available for those who choose speed. The cost is measured in
``bench/durability.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import build_services
from bot.clock import FakeClock
from bot.config import ConfigError
from tests.conftest import VENUE_MORNING, make_settings

FULL, NORMAL = 2, 1  # what PRAGMA synchronous reports


def _synchronous(settings_overrides: dict[str, object], tmp_path: Path) -> int:
    settings = make_settings(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, **settings_overrides)
    services = build_services(settings, clock=FakeClock(VENUE_MORNING))
    try:
        with services.engine.connect() as connection:
            return int(connection.execute(text("PRAGMA synchronous")).scalar_one())
    finally:
        services.engine.dispose()


def test_sqlite_syncs_every_commit_by_default(tmp_path: Path) -> None:
    assert _synchronous({}, tmp_path) == FULL


def test_normal_is_a_choice(tmp_path: Path) -> None:
    database = {"url": f"sqlite:///{tmp_path / 'd.db'}", "sqlite_synchronous": "normal"}
    assert _synchronous({"database": database}, tmp_path) == NORMAL


def test_anything_else_is_refused_naming_the_key(tmp_path: Path) -> None:
    database = {"url": f"sqlite:///{tmp_path / 'd.db'}", "sqlite_synchronous": "off"}
    with pytest.raises(ConfigError, match="sqlite_synchronous"):
        make_settings(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, database=database)
