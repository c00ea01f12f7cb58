"""Shared fixtures: databases (SQLite always; PostgreSQL and MariaDB when reachable), a fake
clock, and a ready service built on the seed campaign."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import Settings, settings_from_mapping
from storage.db import make_engine, make_session_factory, upgrade
from tests.support.campaign import campaign

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql://root@127.0.0.1:3306/test"

# 2022-02-13 08:30 in Shanghai: the venue morning.
VENUE_MORNING = datetime(2022, 2, 13, 0, 30, tzinfo=UTC)


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# Each test run works in its own PostgreSQL schema / MariaDB database, so two runs on one
# machine (two developers, or CI next to a developer) cannot wipe each other's tables.
RUN = f"edubot_t{os.getpid()}"
POSTGRES_RUN_URL = f"{POSTGRES_URL}?options=-csearch_path%3D{RUN}"
MARIADB_RUN_URL = f"mysql://root@127.0.0.1:3306/{RUN}"


def _reset(admin: Engine, kind: str) -> None:
    """Give this run an empty schema (PostgreSQL) or database (MariaDB)."""
    with admin.begin() as conn:
        if kind == "postgresql":
            conn.execute(text(f"DROP SCHEMA IF EXISTS {RUN} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {RUN}"))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS {RUN}"))
            conn.execute(text(f"CREATE DATABASE {RUN} CHARACTER SET utf8mb4"))


def _drop_run(kind: str) -> None:
    admin = make_engine(POSTGRES_URL if kind == "postgresql" else MARIADB_URL)
    try:
        with admin.begin() as conn:
            what = "SCHEMA" if kind == "postgresql" else "DATABASE"
            cascade = " CASCADE" if kind == "postgresql" else ""
            conn.execute(text(f"DROP {what} IF EXISTS {RUN}{cascade}"))
    finally:
        admin.dispose()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (``--dist loadgroup``) the fault tests (real servers killed,
    timed outages) run one after another on one worker, while the others share the rest:
    two of them at once on a small machine would measure each other, not the code."""
    for item in items:
        if item.get_closest_marker("fault"):
            item.add_marker(pytest.mark.xdist_group("fault"))


@pytest.fixture(scope="session")
def _server_runs() -> Iterator[set[str]]:
    used: set[str] = set()
    yield used
    for kind in used:
        _drop_run(kind)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, _server_runs: set[str]) -> Iterator[str]:
    """A database URL on each backend; servers that are not reachable are skipped."""
    if request.param == "sqlite":
        yield _sqlite_copy(request, tmp_path)
        return
    kind = str(request.param)
    admin_url, url, port = (
        (POSTGRES_URL, POSTGRES_RUN_URL, 5432)
        if kind == "postgresql"
        else (MARIADB_URL, MARIADB_RUN_URL, 3306)
    )
    if not _reachable(port):
        pytest.skip(f"{kind} is not reachable on 127.0.0.1:{port}")
    admin = make_engine(admin_url)
    try:
        _reset(admin, kind)
    finally:
        admin.dispose()
    _server_runs.add(kind)
    yield url


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated, empty database on each backend (no config synced)."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _sqlite_copy(request, tmp_path)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head, made once per test process."""
    path = tmp_path_factory.mktemp("migrated") / "edubot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closed: the WAL is checkpointed and removed
    return path


def _sqlite_copy(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A test's SQLite URL, its file a copy of the migrated one: the migrations cost ~0.15 s
    a database and the suite builds over a thousand. A test marked ``empty_db`` gets no file:
    what happens on a database never migrated is what it tests."""
    path = tmp_path / "edubot.db"
    if request.node.get_closest_marker("empty_db") is None:
        shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(VENUE_MORNING)


def make_settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    data = campaign(db_url, **overrides)
    data.setdefault("server", {})
    data["server"] = {**data["server"], "data_dir": str(tmp_path / "data")}
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


@pytest.fixture(params=[False, True], ids=["host-publishes", "auto-publish"])
def either_publishing(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[Services]:
    """The campaign's services on each backend, its 瑞泉 venue waiting for its host's 公布
    and publishing itself on completion (``auto_publish``)."""
    data = campaign(db_url)
    data["venues"][0]["auto_publish"] = request.param
    data["server"] = {"data_dir": str(tmp_path / "data")}
    services = build_services(settings_from_mapping(data), clock=clock)
    yield services
    services.engine.dispose()
