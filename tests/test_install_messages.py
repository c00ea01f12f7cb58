"""What an operator sees when installing and starting: a missing database driver is one
line naming the extra to install, and ``db upgrade`` prints no Alembic plugin chatter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

CONFIG = """\
[database]
url = "{url}"

[[people]]
name = "评委甲"
roles = ["judge"]
"""


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql://u@127.0.0.1:1/db", "psycopg", "postgres"),
        ("mysql://u@127.0.0.1:1/db", "pymysql", "mysql"),
    ],
)
def test_a_missing_driver_is_one_line_naming_the_extra(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    module: str,
    extra: str,
) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed

    code = main(["db", "upgrade", "--config", str(path)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err
    assert f"pip install 'edubot[{extra}]'" in err
    assert module in err


def test_db_upgrade_prints_no_alembic_plugin_lines(tmp_path: Path) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text(CONFIG.format(url="sqlite:///edubot.db"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "setup plugin" not in done.stderr
    assert "database is at the latest schema" in done.stderr
    assert (tmp_path / "edubot.db").exists()  # next to the config file
