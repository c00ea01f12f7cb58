"""``edubot bind-ids`` against the platform emulator: ids found by mobile are written into
the config (its comments kept), and whoever cannot be found is reported with the reason."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli import main
from bot.clock import FakeClock
from bot.config import load_settings, settings_from_mapping
from bot.devtools.emulator import EmulatorServer, EmulatorState
from tests.support.campaign import campaign
from tests.support.toml import toml_text

COMMENT = "# 人员名单来自附件2，教育股整理"


def _config(tmp_path: Path, base: str) -> Path:
    data: dict[str, Any] = campaign(f"sqlite:///{tmp_path / 'edubot.db'}")
    data["wecom"] = {**data["wecom"], "api_base": base}
    data["dingtalk"] = {**data["dingtalk"], "api_base": base, "oapi_base": base}
    data["people"] = [
        {"name": "张伟", "unit": "尚德中学", "roles": ["judge"], "mobile": "139-1234-5678"},
        {"name": "王强", "unit": "杜桥中学", "roles": ["judge"], "mobile": "13900000002"},
        {"name": "李娜", "unit": "瑞泉中学", "roles": ["judge"]},
        {
            "name": "教育股",
            "roles": ["organizer"],
            "wecom_userid": "jiaoyugu",
            "dingtalk_userid": "ding-jyg",
        },
    ]
    data["venues"] = []
    path = tmp_path / "edubot.toml"
    path.write_text(f"{COMMENT}\n{toml_text(data)}", encoding="utf-8")
    return path


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState.from_settings(settings_from_mapping(campaign()), clock)
    with EmulatorServer(state) as emu:
        yield state, emu.base_url


def test_ids_found_by_mobile_are_written_and_the_rest_reported(
    emulator: tuple[EmulatorState, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, base = emulator
    state.directory.add("wecom", "13912345678", "ZhangWei")
    state.directory.add("dingtalk", "13912345678", "manager4711")
    path = _config(tmp_path, base)

    code = main(["bind-ids", "--config", str(path)])

    out = capsys.readouterr().out
    assert code == 1  # some could not be found
    assert "✓ 张伟：企业微信 ZhangWei" in out
    assert "✓ 张伟：钉钉 manager4711" in out
    assert "✗ 王强：企业微信，通讯录中没有手机号 13900000002" in out
    assert "✗ 王强：钉钉，通讯录中没有手机号 13900000002" in out
    assert "✗ 李娜：企业微信，名单中没有手机号" in out
    assert "已写入配置文件 2 个账号；4 项未找到。" in out
    assert "绑定 单位 姓名" in out
    text = path.read_text(encoding="utf-8")
    assert text.startswith(COMMENT)
    people = {p["name"]: p for p in tomllib.loads(text)["people"]}
    assert people["张伟"]["wecom_userid"] == "ZhangWei"
    assert people["张伟"]["dingtalk_userid"] == "manager4711"
    assert "wecom_userid" not in people["王强"]
    load_settings(path)  # still a valid config
    calls = {(c.platform, c.api, c.status) for c in state.attempts()}
    assert ("wecom", "user/getuserid", "46004") in calls
    assert ("dingtalk", "user/getbymobile", "60121") in calls


def test_an_app_without_directory_access_is_reported_once_per_person(
    emulator: tuple[EmulatorState, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, base = emulator
    state.directory.permitted["wecom"] = False
    state.directory.add("dingtalk", "13900000002", "ding-wq")
    path = _config(tmp_path, base)

    assert main(["bind-ids", "--config", str(path), "--dry-run"]) == 1

    out = capsys.readouterr().out
    assert "✗ 张伟：企业微信，应用无权按手机号查通讯录（48002 api forbidden）" in out
    assert "✗ 王强：企业微信，应用无权按手机号查通讯录（48002 api forbidden）" in out
    assert "✓ 王强：钉钉 ding-wq" in out
    assert "已写入配置文件 0 个账号" in out  # --dry-run
    assert len(state.attempts("wecom", "user/getuserid")) == 1  # once refused, not again


@pytest.mark.parametrize(
    ("path", "body", "errcode"),
    [
        pytest.param("/cgi-bin/user/getuserid", {"mobile": "1"}, 40014, id="wecom-bad-token"),
        pytest.param("/topapi/v2/user/getbymobile", {"mobile": "1"}, 40014, id="ding-bad-token"),
    ],
)
def test_the_emulated_lookups_refuse_an_unknown_token(
    emulator: tuple[EmulatorState, str], path: str, body: dict[str, str], errcode: int
) -> None:
    _state, base = emulator
    answer = httpx.post(f"{base}{path}", params={"access_token": "nope"}, json=body).json()
    assert answer["errcode"] == errcode
