"""One writer of the config file at a time (``bot.config_edits.config_write_lock``): a chat
edit, an import or ``bind-ids`` that finds another writer holding the file waits for it,
then starts from the text that writer left, so neither change is lost."""

from __future__ import annotations

import threading
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from bot.config import VenueConfig, load_settings
from bot.config_edits import config_write_lock, write_edits
from bot.workbook.template import write_workbook
from bot.workbook.toml_file import config_rows, import_workbook, read_raw
from storage.setup_models import ConfigEdit
from tests.support.campaign import campaign
from tests.support.toml import toml_text

WAIT_S = 0.3


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "edubot.toml"
    path.write_text(toml_text(campaign(f"sqlite:///{tmp_path / 'e.db'}")), encoding="utf-8")
    return path


def _swap(old: str, new: str) -> ConfigEdit:
    return ConfigEdit(
        id=1,
        kind="swap_judge",
        venue_key="ruiquan",
        change={"old": old, "new": new},
        requested_by="lixuebin",
        created_at=datetime(2022, 2, 13, tzinfo=UTC),
    )


def _ruiquan(path: Path) -> VenueConfig:
    return next(v for v in load_settings(path).venues if v.key == "ruiquan")


def _blocked_while_held(path: Path, write: threading.Thread) -> None:
    """Start ``write`` while another writer holds ``path``: it must not have written
    by the time that writer lets go, and must have finished soon after."""
    before = path.read_bytes()
    with config_write_lock(path):
        write.start()
        write.join(WAIT_S)
        assert write.is_alive(), "the writer did not wait for the lock"
        assert path.read_bytes() == before
        # The holder's own change lands while the other waits: ruiquan starts at 09:00.
        changed = before.decode().replace('"2022-02-13 08:00"', '"2022-02-13 09:00"', 1)
        assert changed != before.decode()
        path.write_text(changed, encoding="utf-8")
    write.join(10)
    assert not write.is_alive()


def test_a_chat_edit_waits_for_the_file_and_keeps_the_other_writers_change(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path)
    write = threading.Thread(target=write_edits, args=(path, [_swap("申毅", "郭锋")]))
    _blocked_while_held(path, write)
    venue = _ruiquan(path)
    assert list(venue.judges) == ["郭锋", "梁飞", "张伟利"]  # the edit
    assert venue.starts_at.hour == 9  # and the change written while it waited


def test_an_import_waits_for_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path)
    workbook = tmp_path / "campaign.xlsx"
    write_workbook(workbook, config_rows(tomllib.loads(read_raw(path))))
    problems: list[object] = []
    write = threading.Thread(target=lambda: problems.extend(import_workbook(workbook, path)))
    _blocked_while_held(path, write)
    assert problems == []
    # The import wrote the workbook's campaign (exported at 08:00) over the text the other
    # writer left: the later writer wins whole, nothing is half of each.
    assert _ruiquan(path).starts_at.hour == 8
