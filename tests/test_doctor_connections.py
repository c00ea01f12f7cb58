"""``edubot doctor`` on the long connections, against the emulator on loopback.

DingTalk Stream mode: ``connections/open`` accepts the app key and secret (or refuses a
wrong secret). The WeCom robot: the ws URL answers and ``aibot_subscribe`` is accepted (or
refused), within a short timeout; and while a running instance holds the robot's lease the
doctor does not subscribe, since that would push the running connection off.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import tomlkit

from bot.clock import FakeClock
from bot.config import Settings
from bot.connections.lease import robot_lease_name
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.doctor import Check, proxy_check, run_doctor, webhook_checks
from bot.doctor_links import connection_checks
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.leases import claim_lease
from tests.conftest import make_settings
from tests.support.campaign import DING_SECRET, campaign
from tests.support.http_proxy import LoopbackProxy, clear_proxy_environment

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
BOT, SECRET = "aibot-doctor", "robot-secret"
EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


@pytest.fixture(autouse=True)
def _no_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxy_environment(monkeypatch)


@pytest.fixture
def emulator() -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState(FakeClock(NOW))
    state.wecom_longconn.add_robot(BOT, SECRET)
    with EmulatorServer(state) as server:
        yield state, server.base_url


def settings_for(
    tmp_path: Path,
    base: str,
    *,
    app_secret: str = DING_SECRET,
    robot_secret: str = SECRET,
    ws_url: str = "",
) -> Settings:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'edubot.db'}",
        tmp_path,
        wecom={
            "robot_mode": "websocket",
            "robot_bot_id": BOT,
            "robot_secret": robot_secret,
            "robot_ws_url": ws_url or base.replace("http", "ws", 1) + "/aibot-ws",
        },
        dingtalk={"app_key": "dingappkey", "app_secret": app_secret, "mode": "stream",
                  "api_base": base},
    )  # fmt: skip
    return settings


def lines(settings: Settings) -> dict[str, str]:
    return {c.item: c.line() for c in connection_checks(settings, NOW, timeout=3.0)}


def test_both_connections_accepted(tmp_path: Path, emulator: tuple[EmulatorState, str]) -> None:
    state, base = emulator
    state.register(settings_for(tmp_path, base))

    found = lines(settings_for(tmp_path, base))

    assert found["钉钉 Stream 连接"] == (
        "✓ 钉钉 Stream 连接：connections/open 接受了 AppKey/AppSecret，可以建立 Stream 连接"
    )
    ws = base.replace("http", "ws", 1) + "/aibot-ws"
    assert found["企业微信长连接"] == f"✓ 企业微信长连接：{ws} 可连接，aibot_subscribe 已接受"
    assert state.dingtalk_stream.opened == 0  # a ticket only: no socket was opened
    assert state.wecom_longconn.subscribed == 1
    assert state.wecom_longconn.holder(BOT) is None  # and the doctor let go again


def test_wrong_secrets_are_refused_with_the_fix(
    tmp_path: Path, emulator: tuple[EmulatorState, str]
) -> None:
    state, base = emulator
    state.register(settings_for(tmp_path, base))

    found = lines(settings_for(tmp_path, base, app_secret="wrong", robot_secret="wrong"))

    ding = found["钉钉 Stream 连接"]
    assert ding.startswith(f"✗ 钉钉 Stream 连接：{base} 拒绝了 AppKey/AppSecret（HTTP 401")
    assert "→ 处理：核对 [dingtalk] app_key 和 app_secret" in ding
    assert "Stream 模式" in ding
    wecom = found["企业微信长连接"]
    assert wecom.startswith("✗ 企业微信长连接：订阅被拒绝（40058 invalid secret）")
    assert "→ 处理：核对 [wecom] robot_bot_id 和 robot_secret" in wecom
    assert (state.dingtalk_stream.refused, state.wecom_longconn.refused) == (1, 1)


def test_an_unreachable_ws_url_is_reported_within_the_timeout(
    tmp_path: Path, emulator: tuple[EmulatorState, str]
) -> None:
    _, base = emulator
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    ws = f"ws://127.0.0.1:{port}/aibot-ws"

    found = lines(settings_for(tmp_path, base, ws_url=ws))

    assert found["企业微信长连接"].startswith(f"✗ 企业微信长连接：连不上 {ws}（")
    assert "[wecom] proxy 或 HTTPS_PROXY" in found["企业微信长连接"]


def test_a_robot_held_by_a_running_instance_is_not_subscribed(
    tmp_path: Path, emulator: tuple[EmulatorState, str]
) -> None:
    state, base = emulator
    settings = settings_for(tmp_path, base)
    state.register(settings)
    engine = make_engine(settings.database.url)
    upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        claim_lease(
            session, robot_lease_name(BOT), "host-a:123", now=NOW, ttl=timedelta(seconds=20)
        )
    engine.dispose()

    held = lines(settings)["企业微信长连接"]
    later = {c.item: c for c in connection_checks(settings, NOW + timedelta(seconds=21))}

    assert (
        held == "– 企业微信长连接：正由 host-a:123 使用（未测试，以免把它挤下线；状态见 /healthz）"
    )
    assert later["企业微信长连接"].status == "ok"  # the lease expired: nobody holds the robot
    assert state.wecom_longconn.subscribed == 1


def doctor_in_stream_mode(
    tmp_path: Path, state: EmulatorState, base: str, proxy: str = ""
) -> list[Check]:
    """``run_doctor`` on the example config with DingTalk in Stream mode at the emulator
    (other HTTP answers 404)."""
    doc = tomlkit.parse(EXAMPLE.read_text(encoding="utf-8"))
    doc["database"]["url"] = f"sqlite:///{tmp_path / 'edubot.db'}"  # type: ignore[index]
    for key, value in (("mode", "stream"), ("api_base", base), ("proxy", proxy)):
        doc["dingtalk"][key] = value  # type: ignore[index]
    path = tmp_path / "edubot.toml"
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    state.dingtalk_app("k", "s", None)
    env = {"EDUBOT_DINGTALK_APP_KEY": "k", "EDUBOT_DINGTALK_APP_SECRET": "s"}
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(404))) as http:
        return run_doctor(path, http=http, now=NOW, env=env)


def test_run_doctor_shows_the_connection_lines(
    tmp_path: Path, emulator: tuple[EmulatorState, str]
) -> None:
    state, base = emulator
    checks = doctor_in_stream_mode(tmp_path, state, base)

    by_item = {c.item: c for c in checks}
    assert by_item["钉钉 Stream 连接"].status == "ok"
    assert "企业微信长连接" not in by_item  # robot_mode = "callback" in the example


def test_the_proxy_line_names_the_configured_proxies(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'e.db'}",
        tmp_path,
        wecom={"proxy": "http://user:pw@proxy.bureau.local:3128"},
    )
    assert proxy_check({}, settings).line() == (
        "✓ 代理：企业微信经 http://proxy.bureau.local:3128（配置文件），其余直连"
    )
    assert proxy_check({"HTTPS_PROXY": "http://gw:8080"}, settings).line() == (
        "✓ 代理：企业微信经 http://proxy.bureau.local:3128（配置文件），其余经 http://gw:8080（HTTPS_PROXY）"
    )


def test_a_wecom_group_pushed_over_the_long_connection_needs_no_webhook(tmp_path: Path) -> None:
    groups = [{**g, "webhook": ""} if g["key"] == "leaders" else g for g in campaign()["groups"]]
    websocket = {"robot_mode": "websocket", "robot_bot_id": BOT, "robot_secret": SECRET}
    by_robot = make_settings(f"sqlite:///{tmp_path / 'a.db'}", tmp_path, groups=groups,
                             wecom=websocket)  # fmt: skip
    by_callback = make_settings(f"sqlite:///{tmp_path / 'b.db'}", tmp_path, groups=groups)

    ok = {c.item: c for c in webhook_checks(by_robot)}["群 领导小组群"]
    bad = {c.item: c for c in webhook_checks(by_callback)}["群 领导小组群"]

    assert ok.line() == "✓ 群 领导小组群：经智能机器人长连接推送（须有人先在群里 @机器人 说过话）"
    assert bad.status == "bad"


def test_the_doctor_goes_through_the_configured_proxy_as_serve_does(
    tmp_path: Path, emulator: tuple[EmulatorState, str]
) -> None:
    state, base = emulator
    with LoopbackProxy() as proxy:
        checks = {c.item: c for c in doctor_in_stream_mode(tmp_path, state, base, proxy.url)}

    assert checks["钉钉凭据"].line() == "✓ 钉钉凭据：取到 access token"
    assert checks["钉钉 Stream 连接"].status == "ok"
    assert [line.split(" ")[1] for line in proxy.requests] == [
        f"{base}/v1.0/oauth2/accessToken",
        f"{base}/v1.0/gateway/connections/open",
    ]
    assert checks["代理"].detail.startswith("钉钉经 http://127.0.0.1:")
