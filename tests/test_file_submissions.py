"""Files handed in over each platform's inbound path, fetched from the loopback emulator.

A principal sends a file to the bot over the WeCom app (``MediaId``), the WeCom intelligent
robot (a file url serving AES-encrypted bytes) or DingTalk (``downloadCode``): the signed or
encrypted callback goes through the real HTTP endpoint, the bot downloads the file from the
emulator (``PlatformMedia``), stores it and answers with a receipt. Refusals (too large,
unknown or expired media, the platform down or slow) are answered and record nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import Settings
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.devtools.emulator.players import (
    dingtalk_callback,
    wecom_app_callback,
    wecom_robot_callback,
)
from bot.devtools.emulator.records import InboundMedia
from bot.devtools.emulator.wecom_routes import seal_robot_file
from bot.platforms.media import PlatformMedia
from bot.platforms.wecom.media import open_robot_file, robot_file_key
from handlers.files import DEFAULT_MAX_BYTES
from handlers.messages import Channel
from storage.db import transaction
from storage.models import InboundMessageRow, Submission
from tests.conftest import make_settings
from tests.support.campaign import CORP_ID, DING_SECRET, ROBOT_AES, campaign
from tests.support.wire import APP, ROBOT, open_app_reply, open_robot_reply

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 4, 6, 9, 0, tzinfo=TZ)  # Monday; 书面报告 is due Wednesday 17:00
DUE = datetime(2026, 4, 8, 17, 0, tzinfo=TZ)
ON_TIME = "提交时间 4月6日（周一）09:00 · 截止 4月8日（周三）17:00 · 提前 2 天 8 小时"

SEED = campaign()
PEOPLE = [
    *SEED["people"],  # 陈校长 (WeCom chenxz) is 瑞泉中学's principal
    {"name": "李校长", "roles": ["principal"], "unit": "杜桥中学", "dingtalk_userid": "ding-lixz"},
    {
        "name": "周校长",
        "roles": ["principal"],
        "unit": "杜桥中学",
        "dingtalk_userid": "ding-zhouxz",
    },
]
DEADLINES = [
    {
        "key": "report",
        "title": "书面报告",
        "due": "2026-04-08 17:00",
        "submitters": ["瑞泉中学", "杜桥中学"],
    },
    {"key": "summary", "title": "总结报告", "due": "2026-12-05 17:00", "submitters": ["周校长"]},
]
CHANNELS: tuple[Channel, ...] = ("wecom_app", "wecom_robot", "dingtalk")
SENDER: dict[Channel, str] = {
    "wecom_app": "chenxz",
    "wecom_robot": "chenxz",
    "dingtalk": "ding-lixz",
}
ZHOU = "ding-zhouxz"
LABEL: dict[Channel, str] = {"wecom_app": "企业微信", "wecom_robot": "企业微信", "dingtalk": "钉钉"}

DOCX = b"PK\x03\x04" + bytes(range(256)) * 4 + b"end"  # every byte value, 1031 bytes
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 300
GONE = "文件已失效或无法获取，未记录。请重新发送文件。"
SMALL = 1024


@dataclass
class World:
    """The emulator playing both platforms, and the bot behind its real HTTP endpoints."""

    state: EmulatorState
    base_url: str
    clock: FakeClock
    services: Services
    client: TestClient
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def media(self, content: bytes, filename: str = "", *, chunked: bool = False) -> InboundMedia:
        """A file some user sent, registered now (robot urls live five minutes)."""
        return self.state.add_media(content, filename, chunked=chunked)

    def send(
        self,
        channel: Channel,
        *,
        text: str = "",
        media: InboundMedia | None = None,
        ref: str = "",
        kind: str = "file",
        who: str = "",
    ) -> str:
        """One message from the channel's principal; returns the bot's answer.

        With ``media`` (or a raw ``ref``) and no text it is a file (or ``kind="image"``)
        message; with both, a WeCom robot ``mixed`` / DingTalk ``richText`` message.
        """
        who = who or SENDER[channel]
        number = next(self.ids)
        now = self.clock.now()
        name = media.filename if media is not None else ""
        if channel == "wecom_app":
            media_id = ref or (media.media_id if media is not None else "")
            query, body = wecom_app_callback(
                APP,
                to_user=CORP_ID,
                from_user=who,
                content=text,
                msg_id=str(7_000_000 + number),
                agent_id="1000002",
                create_time=int(now.timestamp()),
                msg_type=kind if media_id else "text",
                media_id=media_id,
                file_name=name,
            )
            response = self.client.post("/wecom/callback", params=query, content=body)
            assert response.status_code == 200, response.text
            return open_app_reply(response.content)
        if channel == "wecom_robot":
            url = ref or (media.robot_url(self.base_url) if media is not None else "")
            msgtype = ("mixed" if text else kind) if url else "text"
            query, body = wecom_robot_callback(
                ROBOT,
                msgid=f"robot-{number}",
                from_userid=who,
                content=f"@评分助手 {text}" if text else "",
                timestamp=int(now.timestamp()),
                chatid="wrRuiquan",
                msgtype=msgtype,
                file_url=url,
            )
            response = self.client.post("/wecom/robot", params=query, content=body)
            assert response.status_code == 200, response.text
            return open_robot_reply(response.content)
        code = ref or (media.download_code if media is not None else "")
        msg_id = f"ding-{number}"
        millis = int(now.timestamp() * 1000)
        headers, body = dingtalk_callback(
            DING_SECRET,
            msg_id=msg_id,
            sender_staff_id=who,
            sender_nick=who,
            content=text,
            create_at_ms=millis,
            timestamp_ms=millis,
            conversation_id="cidYuhong",
            session_webhook=f"{self.base_url}/session/{msg_id}",
            robot_code="dingrobot",
            msgtype=("richText" if text else "file" if kind == "file" else "picture")
            if code
            else "text",
            download_code=code,
            file_name=name,
        )
        response = self.client.post("/dingtalk/callback", headers=headers, content=body)
        assert response.status_code == 200, response.text
        # DingTalk hears nothing in the HTTP answer: the reply is queued for its sessionWebhook.
        return self.reply_to(msg_id)

    def reply_to(self, message_id: str) -> str:
        with transaction(self.services.factory) as session:
            row = session.scalar(
                select(InboundMessageRow).where(InboundMessageRow.message_id == message_id)
            )
            assert row is not None
            return row.reply_text

    def submissions(self) -> list[Submission]:
        with transaction(self.services.factory) as session:
            return list(session.scalars(select(Submission).order_by(Submission.id)))

    @property
    def data_dir(self) -> Path:
        return Path(self.services.settings.server.data_dir)

    def stored_files(self) -> list[Path]:
        root = self.data_dir / "submissions"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def downloads(self, api: str) -> list[str]:
        """The emulator's answers to ``api`` (``ok``, an errcode, ``http_404`` ...)."""
        return [r.status for r in self.state.attempts(api=api)]


def emulated_settings(tmp_path: Path, base_url: str) -> Settings:
    return make_settings(
        f"sqlite:///{tmp_path / 'edubot.db'}",
        tmp_path,
        people=PEOPLE,
        deadlines=DEADLINES,
        wecom={**SEED["wecom"], "api_base": base_url},
        dingtalk={**SEED["dingtalk"], "api_base": base_url, "oapi_base": base_url},
    )


@contextmanager
def running(
    tmp_path: Path, *, max_bytes: int | None = None, timeout: float = 5.0
) -> Iterator[World]:
    """The emulator and the bot. Without ``max_bytes`` the bot is wired exactly as in
    production (``build_services`` makes the fetcher and its HTTP client); with it, the
    test builds ``PlatformMedia`` with that limit and its own client."""
    clock = FakeClock(START)
    state = EmulatorState(clock)
    with ExitStack() as stack:
        emu = EmulatorServer(state)
        stack.enter_context(emu)
        settings = emulated_settings(tmp_path, emu.base_url)
        state.register(settings)
        files = None
        if max_bytes is not None:
            http = stack.enter_context(httpx.Client(timeout=timeout))
            media = PlatformMedia(settings, http=http, clock=clock, max_bytes=max_bytes)
            files = media.intakes()
        services = build_services(settings, clock=clock, files=files)
        stack.callback(services.engine.dispose)
        client = stack.enter_context(TestClient(create_app(services)))
        yield World(state, emu.base_url, clock, services, client)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running(tmp_path) as w:
        yield w


@pytest.fixture
def small(tmp_path: Path) -> Iterator[World]:
    """A bot whose files may be at most 1 KB."""
    with running(tmp_path, max_bytes=SMALL) as w:
        yield w


def assert_nothing_recorded(world: World) -> None:
    assert world.submissions() == []
    assert world.stored_files() == []


# ------------------------------------------------------------------------- the happy paths


def test_wecom_app_media_id(world: World) -> None:
    first = world.send("wecom_app", media=world.media(DOCX, "报告.docx"))
    assert "已收到陈校长（代瑞泉中学）提交的“书面报告”第 1 版：文件《报告.docx》（1 KB）" in first
    assert ON_TIME in first

    world.clock.set(DUE + timedelta(hours=1, minutes=30))
    asked = world.send("wecom_app", text="提交 书面报告")
    assert "请附上“书面报告”的内容：10 分钟内直接把文件发给我" in asked
    second = world.send("wecom_app", media=world.media(PNG), kind="image")  # the intent says which
    assert "“书面报告”第 2 版：文件《图片-" in second
    assert "逾期 1 小时 30 分钟（已标记为逾期提交）" in second
    assert "此前的 1 个版本均已保留。" in second

    one, two = world.submissions()
    assert (one.owner, one.version, one.late, one.file_name, one.file_size) == (
        "瑞泉中学",
        1,
        False,
        "报告.docx",
        len(DOCX),
    )
    assert one.file_path == "submissions/report/瑞泉中学/1-报告.docx"
    assert (world.data_dir / one.file_path).read_bytes() == DOCX
    assert (two.version, two.late, two.file_size) == (2, True, len(PNG))
    assert two.file_name.startswith("图片-")
    assert two.file_name.endswith(".png")
    assert (world.data_dir / two.file_path).read_bytes() == PNG
    assert world.downloads("media/get") == ["ok", "ok"]
    assert world.downloads("gettoken") == ["ok", "ok"]  # two days apart: a fresh token


def test_wecom_robot_encrypted_file_url(world: World) -> None:
    # 提交 and a picture in one mixed message, then a bare file the 提交 text still names.
    first = world.send("wecom_robot", text="提交 书面报告", media=world.media(PNG))
    assert "已收到陈校长（代瑞泉中学）提交的“书面报告”第 1 版：文件《图片-" in first
    assert ON_TIME in first
    world.clock.advance(timedelta(minutes=5))
    second = world.send("wecom_robot", media=world.media(DOCX))
    assert "“书面报告”第 2 版：文件《文件-" in second
    assert "此前的 1 个版本均已保留。" in second

    one, two = world.submissions()
    assert (world.data_dir / one.file_path).read_bytes() == PNG
    assert (world.data_dir / two.file_path).read_bytes() == DOCX
    assert (one.file_size, two.file_size, two.version) == (len(PNG), len(DOCX), 2)
    assert world.downloads("robot-file") == ["ok", "ok"]
    assert world.downloads("gettoken") == []  # the url needs no token


def test_dingtalk_download_code(world: World) -> None:
    # 周校长 owes 书面报告 and 总结报告: the richText's 提交 text picks the material.
    first = world.send("dingtalk", text="提交 书面报告", media=world.media(PNG), who=ZHOU)
    assert "已收到周校长（代杜桥中学）提交的“书面报告”第 1 版：文件《图片-" in first
    assert ON_TIME in first
    assert "您还有待交：总结报告（截止 12月5日（周六）17:00）" in first
    second = world.send("dingtalk", media=world.media(DOCX, "杜桥中学 书面报告.docx"), who=ZHOU)
    assert "“书面报告”第 2 版：文件《杜桥中学 书面报告.docx》（1 KB）" in second

    one, two = world.submissions()
    assert (one.owner, two.owner, two.version) == ("杜桥中学", "杜桥中学", 2)
    assert two.file_path == "submissions/report/杜桥中学/2-杜桥中学 书面报告.docx"
    assert (world.data_dir / one.file_path).read_bytes() == PNG
    assert (world.data_dir / two.file_path).read_bytes() == DOCX
    assert world.downloads("messageFiles/download") == ["ok", "ok"]
    assert world.downloads("dingtalk-file") == ["ok", "ok"]
    assert world.downloads("oauth2/accessToken") == ["ok"]


def test_a_captioned_file_goes_to_the_material_named_just_before(world: World) -> None:
    """周校长 owes two materials: "提交 总结报告", then a file captioned 见附件 (DingTalk
    richText). The caption is no command; the 提交 before it says which material."""
    asked = world.send("dingtalk", text="提交 总结报告", who=ZHOU)
    assert "请附上“总结报告”的内容" in asked
    filed = world.send("dingtalk", text="见附件", media=world.media(PNG), who=ZHOU)
    assert "已收到周校长提交的“总结报告”第 1 版：文件《图片-" in filed
    assert "您还有待交：书面报告" in filed
    (only,) = world.submissions()
    assert (world.data_dir / only.file_path).read_bytes() == PNG


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_file_of_exactly_the_limit_is_accepted(small: World, channel: Channel) -> None:
    content = b"%PDF" + b"z" * (SMALL - 4)
    reply = small.send(channel, media=small.media(content, "a.pdf"))
    assert "第 1 版" in reply
    (row,) = small.submissions()
    assert (small.data_dir / row.file_path).read_bytes() == content


def test_robot_file_is_served_encrypted(world: World) -> None:
    """Decrypted here by hand, independently of bot.platforms.wecom.media: AES-256-CBC, IV = key[:16],
    PKCS#7 to a multiple of 32 bytes."""
    media = world.media(DOCX)
    raw = httpx.get(media.robot_url(world.base_url), timeout=5).content
    assert len(raw) % 32 == 0
    assert len(raw) > len(DOCX)
    assert DOCX[:4] not in raw
    key = robot_file_key(ROBOT_AES)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    assert 1 <= padded[-1] <= 32
    assert padded[: -padded[-1]] == DOCX
    assert open_robot_file(raw, ROBOT_AES) == DOCX


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 1000])
def test_robot_file_round_trip(size: int) -> None:
    content = bytes(range(256)) * 4
    content = content[:size]
    sealed = seal_robot_file(content, ROBOT_AES)
    assert len(sealed) % 32 == 0
    assert len(sealed) > size
    assert open_robot_file(sealed, ROBOT_AES) == content


def test_robot_file_with_another_key_is_refused() -> None:
    sealed = seal_robot_file(DOCX, ROBOT_AES)
    other = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFX"
    with pytest.raises(ValueError, match=r"padding|multiple"):
        open_robot_file(sealed, other)


# ------------------------------------------------------------------------------- refusals

BIG = b"%PDF" + b"y" * 2044  # 2 KB


@pytest.mark.parametrize("channel", CHANNELS)
def test_over_the_limit_is_refused_with_the_limit_named(small: World, channel: Channel) -> None:
    reply = small.send(channel, media=small.media(BIG, "大.pdf"))
    assert "文件过大（2 KB），单个文件上限为 1 KB，未记录。请压缩后重发" in reply
    assert_nothing_recorded(small)


@pytest.mark.parametrize("channel", CHANNELS)
def test_over_the_limit_without_content_length_stops_reading(
    small: World, channel: Channel
) -> None:
    big = b"%PDF" + b"y" * (256 * 1024)
    reply = small.send(channel, media=small.media(big, "大.pdf", chunked=True))
    assert "文件过大，单个文件上限为 1 KB，未记录。" in reply
    assert_nothing_recorded(small)


UNKNOWN: dict[Channel, tuple[str, str, str]] = {
    "wecom_app": ("no-such-media-id", "media/get", "40007"),
    "wecom_robot": ("{base}/aibot-files/no-such-file", "robot-file", "http_404"),
    "dingtalk": ("no-such-download-code", "messageFiles/download", "http_400"),
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_unknown_media_is_refused(world: World, channel: Channel) -> None:
    ref, api, status = UNKNOWN[channel]
    reply = world.send(channel, ref=ref.format(base=world.base_url))
    assert GONE in reply
    assert world.downloads(api) == [status]
    assert_nothing_recorded(world)


@pytest.mark.parametrize(
    ("channel", "later"),
    [
        pytest.param("wecom_app", timedelta(days=3, minutes=1), id="wecom_app-3-days"),
        pytest.param("wecom_robot", timedelta(minutes=6), id="wecom_robot-5-minutes"),
    ],
)
def test_expired_media_is_refused(world: World, channel: Channel, later: timedelta) -> None:
    media = world.media(DOCX, "报告.docx")
    world.clock.advance(later)
    assert GONE in world.send(channel, media=media)
    assert_nothing_recorded(world)


@pytest.mark.parametrize("channel", CHANNELS)
def test_platform_down_asks_to_resend_later(world: World, channel: Channel) -> None:
    media = world.media(DOCX, "报告.docx")
    world.state.down()
    reply = world.send(channel, media=media)
    assert f"从{LABEL[channel]}下载文件失败，未记录。请稍后重发" in reply
    assert_nothing_recorded(world)
    world.state.down(False)
    assert "第 1 版" in world.send(channel, media=media)  # the resend works


def test_a_slow_platform_times_out(tmp_path: Path) -> None:
    with running(tmp_path, max_bytes=DEFAULT_MAX_BYTES, timeout=0.2) as world:
        world.state.fault("media/get", delay_s=0.6, times=1)
        reply = world.send("wecom_app", media=world.media(DOCX, "报告.docx"))
        assert "从企业微信下载文件超时，未记录。请稍后重发" in reply
        assert_nothing_recorded(world)


def test_robot_key_mismatch_is_refused(world: World) -> None:
    world.state.wecom_robot_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFX")
    reply = world.send("wecom_robot", media=world.media(DOCX))
    assert "文件解密失败，未记录" in reply
    assert_nothing_recorded(world)


@pytest.mark.parametrize(
    ("channel", "api", "errcode", "http_status"),
    [
        pytest.param("wecom_app", "media/get", 42001, None, id="wecom-42001"),
        pytest.param("wecom_app", "media/get", 40014, None, id="wecom-40014"),
        pytest.param("dingtalk", "messageFiles/download", None, 401, id="dingtalk-401"),
    ],
)
def test_a_refused_token_is_fetched_again_once(
    world: World, channel: Channel, api: str, errcode: int | None, http_status: int | None
) -> None:
    world.state.fault(api, times=1, errcode=errcode, http_status=http_status)
    assert "第 1 版" in world.send(channel, media=world.media(DOCX, "报告.docx"))
    assert world.downloads(api)[-1] == "ok"


def test_a_token_refused_twice_is_not_retried_forever(world: World) -> None:
    world.state.fault("media/get", errcode=42001, times=5)
    reply = world.send("wecom_app", media=world.media(DOCX, "报告.docx"))
    assert "从企业微信下载文件失败，未记录" in reply
    assert world.downloads("media/get") == ["42001", "42001"]
    assert_nothing_recorded(world)


def test_expired_token_is_refetched_by_the_clock(world: World) -> None:
    world.send("wecom_app", media=world.media(DOCX, "a.docx"))
    world.clock.advance(timedelta(seconds=7200 - 299))  # inside the 5-minute margin
    world.send("wecom_app", media=world.media(DOCX, "b.docx"))  # a bare file: refused, no fetch
    world.send("wecom_app", text="提交 书面报告")
    world.send("wecom_app", media=world.media(DOCX, "c.docx"))
    assert world.downloads("gettoken") == ["ok", "ok"]
    assert [r.version for r in world.submissions()] == [1, 2]


def test_a_bare_file_that_fits_no_deadline_is_not_downloaded(world: World) -> None:
    # 周校长 owes two reports and said nothing about which: ask, do not fetch.
    reply = world.send("dingtalk", media=world.media(DOCX, "报告.docx"), who=ZHOU)
    assert "收到《报告.docx》，但无法确定是哪项材料" in reply
    assert world.downloads("messageFiles/download") == []
    assert_nothing_recorded(world)
