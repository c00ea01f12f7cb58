"""Shared fixtures: databases (SQLite always; PostgreSQL and MariaDB when reachable), a fake
clock, and a ready service built on the seed campaign."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import Settings, settings_from_mapping
from storage.db import make_engine
from tests.support.campaign import campaign

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql://root@127.0.0.1:3306/test"

# 2022-02-13 08:30 in Shanghai: the forum morning.
FORUM_MORNING = datetime(2022, 2, 13, 0, 30, tzinfo=UTC)


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _reset(engine: Engine) -> None:
    """Drop everything so each test starts from an empty database."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            names = conn.execute(text("SHOW TABLES")).scalars().all()
            for name in names:
                conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on each backend; servers that are not reachable are skipped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'edubot.db'}"
        return
    url, port = (POSTGRES_URL, 5432) if request.param == "postgresql" else (MARIADB_URL, 3306)
    if not _reachable(port):
        pytest.skip(f"{request.param} is not reachable on 127.0.0.1:{port}")
    engine = make_engine(url)
    try:
        _reset(engine)
    finally:
        engine.dispose()
    yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'edubot.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FORUM_MORNING)


def make_settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    data = campaign(db_url, **overrides)
    data.setdefault("server", {})
    data["server"] = {**data["server"], "data_dir": str(tmp_path / "data")}  # type: ignore[dict-item]
    return settings_from_mapping(data)


@pytest.fixture
def services(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    svc = build_services(make_settings(db_url, tmp_path), clock=clock)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def sqlite_services(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    svc = build_services(make_settings(sqlite_url, tmp_path), clock=clock)
    yield svc
    svc.engine.dispose()
