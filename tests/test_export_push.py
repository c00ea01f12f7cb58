"""导出 all the way to the group: the WeCom group robot receives the file itself (uploaded
with upload_media); a DingTalk group, whose robot cannot carry files, receives a signed,
expiring download link that edubot serves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.dispatcher import Outcome
from bot.runtime import make_outbox
from tests.support.campaign import campaign
from tests.support.wire import wecom_private


@pytest.fixture
def world(
    tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[Services, EmulatorState, httpx.Client]]:
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator, httpx.Client(timeout=5) as http:
        data = campaign(f"sqlite:///{tmp_path / 'e.db'}")
        for section in ("wecom", "dingtalk"):
            data[section]["api_base"] = emulator.base_url
        data["dingtalk"]["oapi_base"] = emulator.base_url
        data["server"] = {
            "data_dir": str(tmp_path / "data"),
            "public_url": "http://testserver",
            "link_secret": "s3cret-for-links",
        }
        settings = settings_from_mapping(data)
        state.register(settings)
        services = build_services(settings, clock=clock)
        yield services, state, http
        services.engine.dispose()


def _say(services: Services, user: str, text: str, msg_id: str) -> Outcome:
    return services.dispatcher.process(wecom_private(user, text, msg_id))


def _publish_ruiquan(services: Services) -> None:
    for judge in ("shenyi", "liangfei", "zhangweili"):
        batch = "\n".join(f"{n}号 {80 + n}" for n in range(1, 6))
        _say(services, judge, f"评分\n{batch}", f"s-{judge}")
    assert "已公布" in _say(services, "lixuebin", "公布", "p1").reply.text


def test_a_wecom_group_receives_the_exported_file_itself(
    world: tuple[Services, EmulatorState, httpx.Client],
) -> None:
    services, state, http = world
    _publish_ruiquan(services)
    private = wecom_private("lixuebin", "导出", "x1")
    in_group = replace(private, channel="wecom_robot", chat_type="group", chat_id="wrRuiquan")
    reply = services.dispatcher.process(in_group).reply.text
    assert "文件将推送至瑞泉中学会场群" in reply
    make_outbox(services, http).drain_all()

    sent = state.messages(api="webhook/send", target="ruiquan-key")
    files = [m for m in sent if m.body["msgtype"] == "file"]
    assert len(files) == 1
    upload = state.upload(files[0].body["file"]["media_id"])
    assert upload is not None
    exported = next((Path(services.settings.server.data_dir) / "exports").glob("ruiquan-*.xlsx"))
    assert upload.content == exported.read_bytes()


def test_a_private_export_reaches_the_asker_as_a_signed_link_that_serves_the_file(
    world: tuple[Services, EmulatorState, httpx.Client], clock: FakeClock
) -> None:
    services, state, http = world
    _say(services, "guofeng", "导出 育红初中会场", "x2")
    make_outbox(services, http).drain_all()

    assert state.messages(api="robot/send", target="yuhong-token") == []
    [sent] = state.messages(api="message/send")
    assert sent.target == "guofeng"
    text = sent.body["text"]["content"]
    link = text.split("下载：", 1)[1].split()[0]
    parts = urlsplit(link)
    assert parts.path.startswith("/files/exports/yuhong-")
    exported = next((Path(services.settings.server.data_dir) / "exports").glob("yuhong-*.xlsx"))

    with TestClient(create_app(services)) as client:
        ok = client.get(f"{parts.path}?{parts.query}")
        assert ok.status_code == 200
        assert ok.content == exported.read_bytes()
        query = parse_qs(parts.query)
        forged = f"{parts.path}?exp={query['exp'][0]}&sig={'0' * 64}"
        assert client.get(forged).status_code == 403
        escape = f"/files/exports/..%2Fedubot.db?exp={query['exp'][0]}&sig={query['sig'][0]}"
        assert client.get(escape).status_code in (403, 404)
        clock.advance(timedelta(hours=73))  # past link_ttl_hours
        assert client.get(f"{parts.path}?{parts.query}").status_code == 403


def test_without_a_link_secret_the_push_says_whom_to_ask_and_never_the_asker_themself(
    tmp_path: Path, clock: FakeClock
) -> None:
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator, httpx.Client(timeout=5) as http:
        data = campaign(f"sqlite:///{tmp_path / 'n.db'}")
        data["wecom"]["api_base"] = emulator.base_url
        data["server"] = {"data_dir": str(tmp_path / "data")}
        settings = settings_from_mapping(data)
        state.register(settings)
        services = build_services(settings, clock=clock)
        try:
            _say(services, "guofeng", "导出 育红初中会场", "x3")
            make_outbox(services, http).drain_all()
            text = state.messages(api="message/send")[0].body["text"]["content"]
        finally:
            services.engine.dispose()
    # 郭锋 hosts the venue: telling him to ask the host would send him to himself.
    assert "主持人" not in text
    assert "下载链接未开启：请联系管理员取出文件" in text
    assert "[server] public_url 和 link_secret" in text
    assert "下载：" not in text
