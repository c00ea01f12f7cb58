"""Files people send, and pushes to a person, go through the configured platform proxy.

An office network that reaches WeCom or DingTalk only through the bureau's HTTP proxy
reaches their file hosts the same way, so ``[wecom] proxy`` / ``[dingtalk] proxy`` carry
the downloads too (the token call, the media call and the file url), and the WeCom app
message API (wechatpy's own ``requests`` session). The proxy here is a loopback one that
records each request line; the environment's proxy variables are cleared, so only the
configured proxy can have carried them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.clock import FakeClock
from bot.config import Settings
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.platforms.media import PlatformMedia
from bot.platforms.router import build_router
from handlers.messages import Attachment, OutboundMessage
from tests.conftest import make_settings
from tests.support.campaign import campaign
from tests.support.http_proxy import LoopbackProxy, clear_proxy_environment

START = datetime(2026, 4, 6, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SEED = campaign()
DOCX = b"PK\x03\x04" + bytes(range(256)) * 4


@pytest.fixture(autouse=True)
def _no_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxy_environment(monkeypatch)


@pytest.fixture
def emulator() -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState(FakeClock(START))
    with EmulatorServer(state) as server:
        yield state, server.base_url


def settings_for(tmp_path: Path, base: str, *, wecom: str = "", dingtalk: str = "") -> Settings:
    return make_settings(
        f"sqlite:///{tmp_path / 'edubot.db'}",
        tmp_path,
        wecom={**SEED["wecom"], "api_base": base, "proxy": wecom},
        dingtalk={**SEED["dingtalk"], "api_base": base, "oapi_base": base, "proxy": dingtalk},
    )


def test_downloads_go_through_each_platforms_proxy(
    tmp_path: Path, emulator: tuple[EmulatorState, str]
) -> None:
    state, base = emulator
    port = base.rsplit(":", 1)[1]
    with LoopbackProxy() as wecom_proxy, LoopbackProxy() as ding_proxy:
        settings = settings_for(tmp_path, base, wecom=wecom_proxy.url, dingtalk=ding_proxy.url)
        state.register(settings)
        media = PlatformMedia(settings, clock=FakeClock(START))
        try:
            app_file, robot_file, ding_file = (state.add_media(DOCX, "a.docx") for _ in range(3))
            assert media.fetch(Attachment("file", app_file.media_id), "wecom_app") == DOCX
            assert media.fetch(Attachment("file", robot_file.robot_url(base)), "wecom_robot") == (
                DOCX
            )
            assert media.fetch(Attachment("file", ding_file.download_code), "dingtalk") == DOCX
        finally:
            media.close()

    wecom_paths = [line.split(" ")[1] for line in wecom_proxy.requests]
    ding_paths = [line.split(" ")[1] for line in ding_proxy.requests]
    origin = f"http://127.0.0.1:{port}"
    assert [p.split("?")[0] for p in wecom_paths] == [
        f"{origin}/cgi-bin/gettoken",
        f"{origin}/cgi-bin/media/get",
        f"{origin}/aibot-files/{robot_file.robot_token}",
    ]
    assert [p.split("?")[0] for p in ding_paths[:2]] == [
        f"{origin}/v1.0/oauth2/accessToken",
        f"{origin}/v1.0/robot/messageFiles/download",
    ]
    assert ding_paths[2].startswith(f"{origin}/dingtalk-files/")  # the downloadUrl's host
    assert len(ding_paths) == 3


def test_without_a_configured_proxy_nothing_goes_through_one(
    tmp_path: Path, emulator: tuple[EmulatorState, str]
) -> None:
    state, base = emulator
    with LoopbackProxy() as unused:
        settings = settings_for(tmp_path, base)
        state.register(settings)
        media = PlatformMedia(settings, clock=FakeClock(START))
        try:
            file = state.add_media(DOCX, "a.docx")
            assert media.fetch(Attachment("file", file.download_code), "dingtalk") == DOCX
        finally:
            media.close()
    assert unused.requests == []


def test_the_wecom_app_message_api_goes_through_the_wecom_proxy(
    tmp_path: Path, emulator: tuple[EmulatorState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, base = emulator
    with LoopbackProxy() as proxy, LoopbackProxy() as environment:
        # The environment names another proxy: the configured one must win.
        monkeypatch.setenv("HTTP_PROXY", environment.url)
        settings = settings_for(tmp_path, base, wecom=proxy.url)
        state.register(settings)
        with httpx.Client() as http:
            router = build_router(settings, http=http, clock=FakeClock(START))
            message = OutboundMessage(
                platform="wecom", target_kind="person", target="chenxz", text="你好"
            )
            router.send(message, dedupe_key="k")

    paths = [line.split(" ")[1].split("?")[0] for line in proxy.requests]
    assert paths[-2:] == [f"{base}/cgi-bin/gettoken", f"{base}/cgi-bin/message/send"]
    assert environment.requests == []
    assert [m.target for m in state.messages("wecom", "message/send")] == ["chenxz"]
