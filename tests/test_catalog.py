"""The in-memory venue structure: loaded once, reloaded when any process syncs the config.

A score line reads the venues, judges and contestants from ``handlers.catalog`` instead of
the database; these tests pin down that it is never stale after a sync (by this process or
another one sharing the database) and that it is not reloaded per message.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import handlers.catalog
from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from storage.models import ScoreSheet
from tests.support.campaign import RUIQUAN, campaign
from tests.support.wire import PrivateChat

SCORE = "18 22 17 20 9"


def config(db_url: str, tmp_path: Path, *, edit: Any = None) -> dict[str, Any]:
    data = campaign(db_url)
    data["server"] = {"data_dir": str(tmp_path / "data")}
    if edit is not None:
        edit(data)
    return data


def ruiquan(data: dict[str, Any]) -> dict[str, Any]:
    venue: dict[str, Any] = data["venues"][0]
    assert venue["key"] == "ruiquan"
    return venue


@pytest.fixture
def first(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    svc = build_services(settings_from_mapping(config(db_url, tmp_path)), clock=clock)
    yield svc
    svc.engine.dispose()


def sheets(services: Services) -> int:
    with services.factory() as session:
        return int(session.scalar(select(func.count()).select_from(ScoreSheet)) or 0)


def test_a_sync_by_another_process_reaches_a_running_dispatcher(
    first: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    send = PrivateChat(first.dispatcher, "catalog")
    assert send("shenyi", f"评分 杜桥中学 {SCORE}").startswith("已记录 申毅 → 杜桥中学")
    assert "没有找到选手“新城中学”" in send("shenyi", f"评分 新城中学 {SCORE}")

    def edit(data: dict[str, Any]) -> None:
        venue = ruiquan(data)
        venue["contestants"] = [*RUIQUAN, "新城中学"]
        venue["judges"] = ["申毅", "梁飞"]  # 张伟利 leaves the venue

    # Another ``serve`` starts with the new config: it syncs the shared database.
    second = build_services(settings_from_mapping(config(db_url, tmp_path, edit=edit)), clock=clock)
    second.engine.dispose()

    recorded = send("shenyi", f"评分 新城中学 {SCORE}")
    assert recorded.startswith("已记录 申毅 → 新城中学")
    assert "本会场您还剩 4 位未评" in recorded  # 6 contestants now, 2 scored
    refused = send("zhangweili", f"评分 杜桥中学 {SCORE}")
    assert "您不是任何会场的评委" in refused
    assert sheets(first) == 2


def test_the_catalog_is_loaded_once_while_the_config_stands(
    first: Services, db_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[int] = []
    real = handlers.catalog.Catalog.load.__func__  # type: ignore[attr-defined]

    def counting(cls: type[handlers.catalog.Catalog], session: Any, generation: int) -> Any:
        loads.append(generation)
        return real(cls, session, generation)

    monkeypatch.setattr(handlers.catalog.Catalog, "load", classmethod(counting))
    send = PrivateChat(first.dispatcher, "catalog")
    for name in RUIQUAN:
        assert send("liangfei", f"评分 {name} {SCORE}").startswith(f"已记录 梁飞 → {name}")
    send("nobody", "帮助")  # a stranger is looked up in the same catalog
    assert loads == []  # loaded at start-up, with the config sync: no message waits for it

    # The same config synced again (a restart elsewhere) is a new generation: that
    # process loads it at its start, and this one once, on its next message.
    again = build_services(settings_from_mapping(config(db_url, tmp_path)), clock=clock)
    again.engine.dispose()
    assert len(loads) == 1
    send("liangfei", f"更正 杜桥中学 {SCORE.replace('18', '19')}")
    send("liangfei", f"更正 尚德中学 {SCORE.replace('18', '19')}")
    assert len(loads) == 2
    assert loads[1] == loads[0]  # the generation the sync made


def test_people_come_from_the_catalog_too(
    first: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """A person added to the config can use the bot as soon as it is synced anywhere."""
    send = PrivateChat(first.dispatcher, "catalog")
    assert "不在本次活动名单中" in send("newjudge", f"评分 杜桥中学 {SCORE}")

    def edit(data: dict[str, Any]) -> None:
        data["people"] = [
            *copy.deepcopy(data["people"]),
            {"name": "新评委", "roles": ["judge"], "wecom_userid": "newjudge"},
        ]
        venue = ruiquan(data)
        venue["judges"] = [*venue["judges"], "新评委"]

    second = build_services(settings_from_mapping(config(db_url, tmp_path, edit=edit)), clock=clock)
    second.engine.dispose()
    assert send("newjudge", f"评分 杜桥中学 {SCORE}").startswith("已记录 新评委 → 杜桥中学")


def test_wecom_userids_match_regardless_of_case(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """WeCom ignores case in userids; the config may spell one differently from callbacks."""

    def edit(data: dict[str, Any]) -> None:
        for person in data["people"]:
            if person["name"] == "申毅":
                person["wecom_userid"] = "ShenYi"

    services = build_services(
        settings_from_mapping(config(db_url, tmp_path, edit=edit)), clock=clock
    )
    try:
        send = PrivateChat(services.dispatcher, "catalog")
        assert send("shenyi", f"评分 杜桥中学 {SCORE}").startswith("已记录 申毅 → 杜桥中学")
        assert send("SHENYI", f"评分 尚德中学 {SCORE}").startswith("已记录 申毅 → 尚德中学")
    finally:
        services.engine.dispose()
