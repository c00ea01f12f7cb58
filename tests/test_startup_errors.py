"""Start-up errors in one line (issue 17, item 12): a database that cannot be reached,
opened or written stops ``edubot serve`` with one line saying what, where and what to do,
and a non-zero exit code, never a traceback."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.campaign import campaign
from tests.support.toml import toml_text

pytestmark = pytest.mark.fault

REPO = Path(__file__).resolve().parent.parent
_INFO = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ")


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tmp_path: Path, url: str, workers: int) -> subprocess.CompletedProcess[str]:
    data = campaign(url)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    config = tmp_path / "edubot.toml"
    config.write_text(toml_text(data), encoding="utf-8")
    command = [sys.executable, "-m", "bot", "serve", "--config", str(config)]
    return subprocess.run(
        [*command, "--port", str(_closed_port()), "--no-scheduler", "--workers", str(workers)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _sqlite_in_a_directory(tmp_path: Path) -> str:
    (tmp_path / "db-is-a-folder").mkdir()
    return f"sqlite:///{tmp_path / 'db-is-a-folder'}"


def _sqlite_under_a_file(tmp_path: Path) -> str:
    (tmp_path / "plain-file").write_text("x")
    return f"sqlite:///{tmp_path / 'plain-file' / 'edubot.db'}"


def _sqlite_not_a_database(tmp_path: Path) -> str:
    (tmp_path / "garbage.db").write_bytes(b"this is not an SQLite database file" * 200)
    return f"sqlite:///{tmp_path / 'garbage.db'}"


@pytest.mark.parametrize(
    ("make_url", "expect"),
    [
        (lambda _: f"postgresql://edubot:s3cret@127.0.0.1:{_closed_port()}/x", "127.0.0.1"),
        (lambda _: f"mysql://edubot:s3cret@127.0.0.1:{_closed_port()}/x", "127.0.0.1"),
        (_sqlite_in_a_directory, "db-is-a-folder"),
        (_sqlite_under_a_file, "plain-file"),
        (_sqlite_not_a_database, "garbage.db"),
    ],
    ids=[
        "postgresql-closed-port",
        "mariadb-closed-port",
        "sqlite-dir",
        "sqlite-under-file",
        "sqlite-garbage",
    ],
)
@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "workers"])
def test_an_unusable_database_stops_serve_with_one_line(
    tmp_path: Path, make_url: object, expect: str, workers: int
) -> None:
    # One process builds its app itself; with workers the supervisor migrates first.
    assert callable(make_url)
    done = _serve(tmp_path, make_url(tmp_path), workers)
    assert done.returncode == 1
    # Start-up progress is logged at INFO; everything else on stderr is the error itself.
    lines = [line for line in done.stderr.splitlines() if line.strip() and not _INFO.match(line)]
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("数据库不可用 / database unavailable: ")
    assert expect in lines[0]
    assert str(tmp_path / "edubot.toml") in lines[0]  # where to fix it
    assert "s3cret" not in lines[0]
