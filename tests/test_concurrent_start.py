"""Concurrent start-up converges (issue 17, item 11): several instances starting at once on
a fresh database all come up, the schema is migrated once and the config synced without a
unique violation."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.clock import FakeClock
from storage.db import transaction
from storage.models import Person, Venue
from tests.conftest import VENUE_MORNING, make_settings
from tests.support.campaign import campaign
from tests.support.toml import toml_text

pytestmark = pytest.mark.fault

INSTANCES = 4
REPO = Path(__file__).resolve().parent.parent


_START = """
import sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
from bot.app import build_services
from bot.config import load_settings
build_services(load_settings(sys.argv[1])).engine.dispose()
print("started")
"""


@pytest.mark.parametrize(
    "db_url",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
    indirect=True,
)
@pytest.mark.empty_db
def test_instances_starting_at_once_on_a_fresh_database_all_come_up(
    db_url: str, tmp_path: Path
) -> None:
    data = campaign(db_url)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    config = tmp_path / "edubot.toml"
    config.write_text(toml_text(data), encoding="utf-8")
    go = tmp_path / "go"
    command = [sys.executable, "-c", _START, str(config), str(go)]
    processes = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(INSTANCES)
    ]
    try:
        time.sleep(1.0)  # let every interpreter reach the starting line
        go.touch()
        outcomes = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    for process, (out, err) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, err.decode()
        assert out.decode().strip() == "started"
    settings = make_settings(db_url, tmp_path)
    services = build_services(settings, clock=FakeClock(VENUE_MORNING))
    try:
        with transaction(services.factory) as session:
            people = session.scalar(select(func.count()).select_from(Person))
            venues = session.scalar(select(func.count()).select_from(Venue))
    finally:
        services.engine.dispose()
    assert people == len(data["people"])
    assert venues == len(data["venues"])
