"""``edubot doctor``: every check against a fake platform (httpx.MockTransport), never the net."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
import tomlkit
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from bot.doctor import Check, database_check, proxy_check, run_doctor
from storage.db import make_engine
from tests.conftest import make_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
ENV = {
    "EDUBOT_WECOM_CORP_ID": "wwcorp",
    "EDUBOT_WECOM_SECRET": "good-secret",
    "EDUBOT_DINGTALK_APP_KEY": "dingkey",
    "EDUBOT_DINGTALK_APP_SECRET": "good-secret",
}


SENT: list[httpx.Request] = []


def platform(*, skew: timedelta = timedelta(0), down: bool = False) -> httpx.Client:
    """WeCom's gettoken, DingTalk's accessToken and our /healthz, as the real ones answer."""

    def handle(request: httpx.Request) -> httpx.Response:
        if down:
            raise httpx.ConnectError("connection refused", request=request)
        headers = {"Date": format_datetime(NOW + skew, usegmt=True)}
        if request.url.path == "/cgi-bin/gettoken":
            good = request.url.params["corpsecret"] == "good-secret"
            body = {"errcode": 0, "errmsg": "ok", "access_token": "T", "expires_in": 7200}
            if not good:
                body = {"errcode": 40001, "errmsg": "invalid credential"}
            return httpx.Response(200, json=body, headers=headers)
        if request.url.path == "/v1.0/oauth2/accessToken":
            if json.loads(request.content)["appSecret"] != "good-secret":
                return httpx.Response(400, json={"code": "invalidClientSecret"}, headers=headers)
            return httpx.Response(200, json={"accessToken": "T", "expireIn": 7200}, headers=headers)
        if request.url.path in ("/cgi-bin/webhook/send", "/robot/send"):
            SENT.append(request)
            key = request.url.params.get("key") or request.url.params.get("access_token")
            if key == "dead-key":
                return httpx.Response(
                    200, json={"errcode": 93000, "errmsg": "invalid webhook url"}, headers=headers
                )
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}, headers=headers)
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"}, headers=headers)
        return httpx.Response(404, headers=headers)

    return httpx.Client(transport=httpx.MockTransport(handle))


def config(tmp_path: Path, **edits: object) -> Path:
    doc = tomlkit.parse(EXAMPLE.read_text(encoding="utf-8"))
    doc["database"]["url"] = f"sqlite:///{tmp_path / 'edubot.db'}"  # type: ignore[index]
    doc["server"]["public_url"] = "https://bot.example.edu.cn"  # type: ignore[index]
    for dotted, value in edits.items():
        section, key = dotted.split("__")
        doc[section][key] = value  # type: ignore[index]
    path = tmp_path / "edubot.toml"
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


def lines(checks: list[Check]) -> dict[str, str]:
    return {c.item: c.line() for c in checks}


def test_a_healthy_install_is_all_ticks(tmp_path: Path) -> None:
    checks = run_doctor(config(tmp_path), http=platform(), now=NOW, env=ENV)
    assert [c.status for c in checks if c.status != "ok"] == ["skip"]  # no proxy
    assert lines(checks)["企业微信凭据"] == "✓ 企业微信凭据：取到 access token"
    assert lines(checks)["数据库"] == "✓ 数据库：sqlite 可写"
    assert lines(checks)["时钟"] == "✓ 时钟：与 qyapi.weixin.qq.com 相差 0 秒"
    assert lines(checks)["群 瑞泉中学会场群"] == "✓ 群 瑞泉中学会场群：机器人地址格式正确"


def test_a_wrong_secret_is_named_with_its_fix(tmp_path: Path) -> None:
    env = {**ENV, "EDUBOT_WECOM_SECRET": "typo", "EDUBOT_DINGTALK_APP_SECRET": "typo"}
    found = lines(run_doctor(config(tmp_path), http=platform(), now=NOW, env=env))
    assert found["企业微信凭据"].startswith(
        "✗ 企业微信凭据：被拒绝（HTTP 200，invalid credential） → 处理：核对 [wecom] corp_id"
    )
    assert found["钉钉凭据"].startswith(
        "✗ 钉钉凭据：被拒绝（HTTP 400，invalidClientSecret） → 处理：核对 [dingtalk]"
    )


def test_no_network_and_no_clock_to_compare(tmp_path: Path) -> None:
    found = lines(run_doctor(config(tmp_path), http=platform(down=True), now=NOW, env=ENV))
    assert (
        found["企业微信凭据"]
        == "✗ 企业微信凭据：连不上（ConnectError） → 处理：检查网络、防火墙和代理设置"
    )
    assert found["公网地址"].startswith("✗ 公网地址：https://bot.example.edu.cn 访问不到")
    assert found["时钟"].startswith("– 时钟：没有可对照的服务器")


def test_a_clock_five_minutes_behind(tmp_path: Path) -> None:
    checks = run_doctor(
        config(tmp_path), http=platform(skew=timedelta(minutes=5)), now=NOW, env=ENV
    )
    assert lines(checks)["时钟"] == (
        "✗ 时钟：本机比 qyapi.weixin.qq.com 慢 300 秒 → 处理：开启时间同步（如 timedatectl set-ntp true），再重启服务"
    )


def test_bad_webhooks(tmp_path: Path) -> None:
    path = config(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        '"${EDUBOT_RUIQUAN_WEBHOOK:-ruiquan-demo-key}"',
        '"https://qyapi.weixin.qq.com/cgi-bin/webhook/send"',
    )
    text = text.replace('"${EDUBOT_YUHONG_SECRET:-SECyuhongdemo}"', '"yuhongdemo"')
    path.write_text(text, encoding="utf-8")
    found = lines(run_doctor(path, http=platform(), now=NOW, env=ENV))
    assert found["群 瑞泉中学会场群"].startswith(
        "✗ 群 瑞泉中学会场群：企业微信群机器人地址缺失或不完整 → 处理："
    )
    assert found["群 育红初中会场群"].startswith("✗ 群 育红初中会场群：加签密钥应以 SEC 开头")


def test_an_invalid_config_is_the_only_line(tmp_path: Path) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text("[server]\nport = 70000\n", encoding="utf-8")
    [check] = run_doctor(path, http=platform(), now=NOW, env={})
    assert check.line().startswith(f"✗ 配置文件：{path}: server.port:")
    assert check.line().endswith("→ 处理：按提示改正后运行 edubot check-config")


def test_a_database_that_refuses_writes_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only database file in WAL mode, as edubot leaves it: a temporary table still
    takes a write, a real one cannot. Opened read-only by its URI, since root may write any
    file whatever its mode; the URI's folders are made relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    made = sqlite3.connect(tmp_path / "ro.db")
    made.execute("PRAGMA journal_mode=WAL")  # as edubot leaves it
    made.execute("CREATE TABLE kept (x INTEGER)")
    made.close()
    path = config(tmp_path, database__url=f"sqlite:///file:{tmp_path / 'ro.db'}?mode=ro&uri=true")
    found = lines(run_doctor(path, http=platform(), now=NOW, env=ENV))
    assert found["数据库"].startswith("✗ 数据库：无法写入（")
    assert "readonly" in found["数据库"]


def test_the_write_check_leaves_no_table_behind(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path)
    assert (
        database_check(settings).line() == f"✓ 数据库：{make_url(db_url).get_backend_name()} 可写"
    )
    engine = make_engine(db_url)
    try:
        assert "edubot_doctor_probe" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_unconfigured_platforms_are_skipped_not_failed(tmp_path: Path) -> None:
    found = lines(run_doctor(config(tmp_path), http=platform(), now=NOW, env={}))
    assert found["企业微信凭据"] == "– 企业微信凭据：未配置 [wecom] corp_id 和 secret"
    assert found["钉钉凭据"] == "– 钉钉凭据：未配置 [dingtalk] app_key 和 app_secret"


def test_holiday_data_missing_for_a_reminder_year(tmp_path: Path) -> None:
    path = config(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        'due = "2022-02-07 18:00"', 'due = "2031-02-07 18:00"'
    )
    path.write_text(text, encoding="utf-8")
    found = lines(run_doctor(path, http=platform(), now=NOW, env=ENV))
    assert found["节假日数据"].startswith("✗ 节假日数据：注意：2031 年没有节假日数据")


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({}, "– 代理：未使用代理（直连）"),
        (
            {"HTTPS_PROXY": "http://user:pw@proxy.edu.cn:3128"},
            "✓ 代理：经 http://proxy.edu.cn:3128 访问外网（HTTPS_PROXY）",
        ),
    ],
    ids=["none", "password hidden"],
)
def test_proxy(env: dict[str, str], line: str) -> None:
    assert proxy_check(env).line() == line


def test_the_cli_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli_actions
    from bot.cli import main

    monkeypatch.setattr(
        cli_actions, "datetime", type("Frozen", (), {"now": staticmethod(lambda tz=None: NOW)})
    )
    client = platform(down=True)
    monkeypatch.setattr(httpx, "Client", lambda **_: client)
    assert main(["doctor", "--config", str(config(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "✓ 配置文件" in out
    assert "✗ 公网地址" in out


def test_send_test_posts_one_message_per_group_robot(tmp_path: Path) -> None:
    SENT.clear()
    path = config(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        "${EDUBOT_LEADERS_WEBHOOK:-leaders-demo-key}", "dead-key"
    )
    path.write_text(text, encoding="utf-8")
    found = lines(run_doctor(path, http=platform(), now=NOW, env=ENV, send_test=True))
    assert found["测试消息 → 瑞泉中学会场群"] == "✓ 测试消息 → 瑞泉中学会场群：已发送，请到群里确认"
    assert found["测试消息 → 育红初中会场群"] == "✓ 测试消息 → 育红初中会场群：已发送，请到群里确认"
    assert found["测试消息 → 领导小组群"].startswith("✗ 测试消息 → 领导小组群：发送失败（")
    assert "→ 处理：核对机器人地址和加签密钥" in found["测试消息 → 领导小组群"]
    assert len(SENT) == 5
    ding = next(r for r in SENT if r.url.path == "/robot/send")
    assert ding.url.params["access_token"] == "yuhong-demo-token"
    assert ding.url.params["sign"]  # 加签 with the group's SEC secret
    assert "自检" in json.loads(ding.content)["text"]["content"]


def test_without_send_test_nothing_is_sent(tmp_path: Path) -> None:
    SENT.clear()
    run_doctor(config(tmp_path), http=platform(), now=NOW, env=ENV)
    assert SENT == []
