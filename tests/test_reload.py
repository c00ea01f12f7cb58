"""Changes without a restart (issue 19, item 4).

A running ``serve`` (the app with its background parts started) picks up a changed config
file: a judge swapped and a contestant added are used by the very next message; an invalid
file keeps the old config, with a warning in ``/healthz`` and in the organizers' group.
Organizers' chat edits take effect at once, are audited, and are written into the file with
its comments kept; ``edubot reload`` reaches every instance through the database.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.cli import main
from bot.clock import FakeClock
from bot.config import load_settings
from bot.dispatcher import Outcome
from bot.reloading import ConfigReloader, attach_reloader
from bot.runtime import attach_background
from bot.scheduler import Scheduler
from handlers.messages import InboundMessage, OutboundMessage
from handlers.pushes import enqueue
from storage.db import transaction
from storage.models import OutboxRow
from storage.setup_models import ConfigEdit
from tests.support.campaign import campaign
from tests.support.toml import toml_text
from tests.support.waiting import wait_until

IDS = count()
SCORE = "评分 {} 18 22 17 20 9"
COMMENT = "# 学校管理论坛：附件1 活动安排表（教育股维护）"


def _data(db_url: str, tmp_path: Path) -> dict[str, Any]:
    data = campaign(db_url)
    data["server"] = {"data_dir": str(tmp_path / "data"), "config_poll_seconds": 0.05}
    data["people"].append(
        {"name": "王强", "unit": "杜桥中学", "roles": ["judge"], "wecom_userid": "wangqiang"}
    )
    data["groups"].append(
        {
            "key": "office",
            "name": "教育股工作群",
            "platform": "wecom",
            "webhook": "office-key",
            "organizers": True,
        }
    )
    return data


@dataclass
class Serving:
    services: Services
    reloader: ConfigReloader
    client: TestClient
    path: Path
    data: dict[str, Any]

    def write(self, data: dict[str, Any]) -> None:
        self.path.write_text(f"{COMMENT}\n{toml_text(data)}", encoding="utf-8")

    def send(self, sender: str, text: str) -> Outcome:
        return self.services.dispatcher.process(
            InboundMessage("wecom", "wecom_app", f"reload-{next(IDS)}", sender, text, "private")
        )


@pytest.fixture
def serving(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Serving]:
    path = tmp_path / "edubot.toml"
    data = _data(db_url, tmp_path)
    path.write_text(f"{COMMENT}\n{toml_text(data)}", encoding="utf-8")
    services = build_services(load_settings(path), clock=clock)
    reloader = attach_reloader(services, path)
    with TestClient(create_app(services)) as client:  # the lifespan starts the reloader
        yield Serving(services, reloader, client, path, data)


def test_a_changed_file_is_used_by_the_next_message_and_an_invalid_one_is_kept_out(
    serving: Serving,
) -> None:
    assert serving.send("liangfei", SCORE.format("瑞泉中学")).status == "ok"
    assert serving.send("wangqiang", SCORE.format("瑞泉中学")).status == "refused"

    changed = _data(serving.services.settings.database.url, serving.path.parent)
    venue = changed["venues"][0]
    venue["judges"] = ["申毅", "王强", "张伟利"]
    venue["contestants"] = [*venue["contestants"], "新河中学"]
    serving.write(changed)
    wait_until(lambda: serving.reloader.applied == 1, timeout=30)

    scored = serving.send("wangqiang", SCORE.format("新河中学"))
    assert scored.status == "ok", scored.reply.text
    assert scored.reply.text.startswith("已记录 王强 → 新河中学：86 分")
    assert serving.send("liangfei", SCORE.format("杜桥中学")).status == "refused"
    assert serving.services.settings.venue("ruiquan").judges == ("申毅", "王强", "张伟利")

    broken = dict(changed, venues=[{**venue, "judges": ["申毅", "没这个人"]}, changed["venues"][1]])
    serving.write(broken)
    health = wait_until(lambda: _warned(serving.client), timeout=30)
    assert "配置文件有错误，仍在使用上一版配置" in health["warnings"][0]
    assert "没这个人" in health["warnings"][0]
    assert health["status"] == "ok"  # the old config still serves
    assert serving.send("wangqiang", SCORE.format("杜桥中学")).status == "ok"
    assert serving.reloader.applied == 1
    with transaction(serving.services.factory) as session:
        alerts = session.scalars(select(OutboxRow).where(OutboxRow.target == "office")).all()
    assert len(alerts) == 1
    assert "仍在使用上一版配置" in alerts[0].payload["text"]

    serving.write(changed)  # fixed again: the warning goes
    wait_until(lambda: serving.reloader.applied == 2 and not _warned(serving.client), timeout=30)


def _warned(client: TestClient) -> dict[str, Any] | None:
    body: dict[str, Any] = client.get("/healthz").json()
    return body if body["warnings"] else None


def test_chat_edits_apply_at_once_are_audited_and_written_into_the_file(serving: Serving) -> None:
    swapped = serving.send("jiaoyugu", "换评委 瑞泉中学会场 梁飞 → 王强")
    assert swapped.status == "ok", swapped.reply.text
    assert swapped.reply.text.startswith("已将瑞泉中学会场的评委 梁飞 换为 王强。")
    added = serving.send("jiaoyugu", "加选手 瑞泉 新河中学")
    assert added.reply.text.startswith("已在瑞泉中学会场加入选手 新河中学（6号）。"), (
        added.reply.text
    )
    moved = serving.send("jiaoyugu", "改时间 瑞泉中学会场 9:30")
    assert "改为 2月13日（周日）09:30" in moved.reply.text, moved.reply.text
    # The next message sees all three, before the file is even written.
    scored = serving.send("wangqiang", SCORE.format("新河中学"))
    assert scored.status == "ok", scored.reply.text
    assert serving.send("liangfei", SCORE.format("杜桥中学")).status == "refused"

    wait_until(lambda: _all_written(serving), timeout=30)
    text = serving.path.read_text(encoding="utf-8")
    assert text.startswith(COMMENT)
    venue = next(v for v in tomllib.loads(text)["venues"] if v["key"] == "ruiquan")
    assert venue["judges"] == ["申毅", "王强", "张伟利"]
    assert venue["contestants"][-1] == "新河中学"
    assert venue["starts_at"] == "2022-02-13 09:30"
    with transaction(serving.services.factory) as session:
        edits = session.scalars(select(ConfigEdit).order_by(ConfigEdit.id)).all()
        assert [(e.kind, e.requested_by, e.change) for e in edits] == [
            ("swap_judge", "教育股", {"old": "梁飞", "new": "王强"}),
            ("add_contestant", "教育股", {"name": "新河中学"}),
            ("move_time", "教育股", {"starts_at": "2022-02-13 09:30"}),
        ]
    # Reminders re-planned for the new start once the file was reloaded.
    wait_until(lambda: _replanned(serving), timeout=30)
    assert serving.send("wangqiang", SCORE.format("瑞泉中学")).status == "ok"


def _all_written(serving: Serving) -> bool:
    with transaction(serving.services.factory) as session:
        states = session.scalars(select(ConfigEdit.state)).all()
    return bool(states) and all(s == "written" for s in states)


def _replanned(serving: Serving) -> bool:
    with transaction(serving.services.factory) as session:
        keys = session.scalars(
            select(OutboxRow.dedupe_key).where(OutboxRow.dedupe_key.like("remind:forum:ruiquan:%"))
        ).all()
    return any("T09:30" in key for key in keys)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(
            "换评委 瑞泉中学会场 李四 → 王强", "李四 不是瑞泉中学会场的评委", id="not-a-judge"
        ),
        pytest.param("换评委 瑞泉中学会场 梁飞 → 赵六", "名单中没有赵六", id="unknown-new"),
        pytest.param(
            "换评委 瑞泉中学会场 梁飞 → 申毅", "申毅 已经是瑞泉中学会场的评委", id="already"
        ),
        pytest.param("换评委 梁飞 → 王强", "请写上会场", id="which-venue"),
        pytest.param(
            "加选手 瑞泉中学会场 杜桥中学", "杜桥中学 已在瑞泉中学会场的选手名单中", id="dup"
        ),
        pytest.param("改时间 瑞泉中学会场 明天", "没有看懂时间“明天”", id="bad-time"),
        pytest.param("改时间 不存在的会场 9:30", "请写上会场", id="no-venue"),
    ],
)
def test_a_wrong_chat_edit_is_refused_and_changes_nothing(
    serving: Serving, text: str, reason: str
) -> None:
    outcome = serving.send("jiaoyugu", text)
    assert outcome.status == "refused", outcome.reply.text
    assert reason in outcome.reply.text
    with transaction(serving.services.factory) as session:
        assert session.scalar(select(ConfigEdit.id)) is None


def test_only_organizers_make_chat_edits(serving: Serving) -> None:
    outcome = serving.send("shenyi", "换评委 瑞泉中学会场 梁飞 → 王强")
    assert outcome.status == "refused"
    assert "由活动组织者操作" in outcome.reply.text


def test_edubot_reload_reaches_a_running_instance_through_the_database(
    serving: Serving, capsys: pytest.CaptureFixture[str]
) -> None:
    # The file on disk changed in a way mtime polling alone would miss: same bytes in,
    # but the database (another instance's sync) was changed behind this instance's back.
    serving.reloader.stop()
    assert main(["reload", "--config", str(serving.path)]) == 0
    assert "所有运行中的 edubot serve 将在" in capsys.readouterr().out
    assert serving.reloader.check() is True
    assert serving.reloader.check() is False  # applied once per request


def test_a_reloaded_config_reroutes_the_outbox_and_feeds_the_scheduler(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """A group added to the file gets its pushes without a restart."""
    sent: list[httpx.Request] = []

    def platform(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    path = tmp_path / "edubot.toml"
    data = _data(db_url, tmp_path)
    path.write_text(toml_text(data), encoding="utf-8")
    services = build_services(load_settings(path), clock=clock)
    outbox = attach_background(services, http=httpx.Client(transport=httpx.MockTransport(platform)))
    reloader = ConfigReloader(services, path, poll_seconds=0)
    try:
        data["groups"].append({"key": "newgroup", "platform": "wecom", "webhook": "new-key"})
        path.write_text(toml_text(data), encoding="utf-8")
        assert reloader.check() is True
        scheduler = next(item for item in services.background if isinstance(item, Scheduler))
        assert scheduler._settings is services.settings
        with transaction(services.factory) as session:
            enqueue(
                session,
                OutboundMessage(
                    platform="wecom", target_kind="group", target="newgroup", text="hi"
                ),
                dedupe_key="new-group-push",
                due_at=clock.now(),
                now=clock.now(),
            )
        outbox.drain()
        assert [r.url.params.get("key") for r in sent] == ["new-key"]
    finally:
        for item in reversed(services.background):
            item.stop()
        services.engine.dispose()


def test_an_edit_the_file_cannot_take_is_marked_failed_and_holds_no_reload_back(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "edubot.toml"
    data = _data(db_url, tmp_path)
    path.write_text(toml_text(data), encoding="utf-8")
    services = build_services(load_settings(path), clock=clock)
    reloader = ConfigReloader(services, path, poll_seconds=0)
    try:
        message = InboundMessage(
            "wecom", "wecom_app", "edit-1", "jiaoyugu", "加选手 瑞泉 新河中学", "private"
        )
        assert services.dispatcher.process(message).status == "ok"
        # Meanwhile the clerk imported a workbook without that venue.
        data["venues"] = data["venues"][1:]
        path.write_text(toml_text(data), encoding="utf-8")

        assert reloader.check() is True
        with transaction(services.factory) as session:
            edit = session.scalars(select(ConfigEdit)).one()
            assert (edit.state, edit.note) == ("failed", "配置文件中没有会场 ruiquan")
        assert [v.key for v in services.settings.venues] == ["yuhong"]
    finally:
        services.engine.dispose()
