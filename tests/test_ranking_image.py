"""The ranking as a picture: drawn in the shipped font, pushed on 公布 to WeCom groups as
the robot's ``image`` (base64 + md5), skipped where pictures cannot go."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fontTools.ttLib import TTFont
from PIL import Image

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.desk.ranking_image import FONT, MAX_ROWS, ranking_png
from bot.desk.views import RankRow
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.devtools.emulator.rules import check_wecom_webhook
from bot.planning import pictures
from bot.planning.pictures import draw_picture
from bot.platforms.router import build_router
from bot.platforms.wecom.webhook_sender import WeComWebhookSender
from bot.runtime import make_outbox
from handlers.messages import message_of
from storage.db import transaction
from storage.models import OutboxRow
from storage.outbox_intent import PICTURE, Intent
from tests.support.campaign import campaign
from tests.support.wire import PrivateChat

ROOT = Path(__file__).resolve().parent.parent


def _png(rows: int) -> bytes:
    return ranking_png(
        "学校管理论坛·瑞泉中学会场",
        "3 位评委 × 5 位选手",
        ["申毅", "梁飞", "张伟利"],
        [RankRow(str(i), f"选手{i}", "86.0", ("86", "86", "86")) for i in range(1, rows + 1)],
    )


def test_the_picture_is_a_png_that_grows_with_the_rows_up_to_a_cap() -> None:
    small = Image.open(io.BytesIO(_png(5)))
    large = Image.open(io.BytesIO(_png(MAX_ROWS)))
    capped = Image.open(io.BytesIO(_png(MAX_ROWS + 500)))
    assert small.format == "PNG"
    assert small.width >= 900  # readable on a phone once scaled to its width
    assert large.height > small.height
    assert capped.height <= large.height + 60  # only the "另有 … 位" line more
    assert len(_png(MAX_ROWS + 500)) < 2 * 1024 * 1024  # the robot's limit


def test_the_shipped_font_covers_every_name_in_the_example_config_and_sample() -> None:
    font = TTFont(FONT)
    covered = set(font.getBestCmap())
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text += (ROOT / "bot" / "devtools" / "sample.toml").read_text(encoding="utf-8")
    names = {ch for ch in text if "\u4e00" <= ch <= "\u9fff"}
    missing = sorted(ch for ch in names if ord(ch) not in covered)
    assert missing == []
    assert (FONT.parent / "OFL.txt").read_text().count("SIL OPEN FONT LICENSE") >= 1


def test_the_webhook_sends_the_picture_as_base64_with_its_md5(tmp_path: Path) -> None:
    png = _png(5)
    path = tmp_path / "ranking.png"
    path.write_bytes(png)
    seen: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        sender = WeComWebhookSender(http=http, api_base="http://wecom.test", webhook="KEY")
        message = message_of(
            {
                "platform": "wecom",
                "target_kind": "group",
                "target": "g",
                "text": "排名",
                "image_path": str(path),
            }
        )
        sender.send(message, dedupe_key="k")
    (body,) = seen
    assert body["msgtype"] == "image"
    image = body["image"]
    assert isinstance(image, dict)
    assert image["md5"] == hashlib.md5(png).hexdigest()
    assert check_wecom_webhook(body) is None  # what the emulator (and WeCom) accept


@pytest.fixture
def published(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Services, EmulatorState]]:
    """Venue ruiquan scored by its three judges and published; results go to a WeCom and a
    DingTalk group. The emulator stands for both platforms; nothing is sent yet."""
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator:
        data = campaign(f"sqlite:///{tmp_path / 'edubot.db'}")
        for section in ("wecom", "dingtalk"):
            data[section]["api_base"] = emulator.base_url
        data["dingtalk"]["oapi_base"] = emulator.base_url
        data["server"] = {"data_dir": str(tmp_path / "data")}
        data["venues"][0]["results_to"] = ["leaders", "yuhong"]
        settings = settings_from_mapping(data)
        state.register(settings)
        services = build_services(settings, clock=clock)
        chat = PrivateChat(services.dispatcher, "pub")
        for judge in ("shenyi", "liangfei", "zhangweili"):
            for c in ("瑞泉中学共同体", "杜桥中学", "尚德中学", "韩马初中共同体", "育红初中共同体"):
                assert "已记录" in chat(judge, f"评分 {c} 18 22 17 20 9")
        assert "公布" in chat("lixuebin", "公布")
        try:
            yield services, state
        finally:
            services.engine.dispose()


def _picture_rows(services: Services) -> dict[str, str]:
    with transaction(services.factory) as session:
        rows = session.query(OutboxRow).filter(OutboxRow.reason.like("picture:ruiquan")).all()
        return {r.target: r.payload["image_path"] for r in rows}


def test_publishing_pushes_the_picture_to_wecom_groups_only(
    published: tuple[Services, EmulatorState],
) -> None:
    services, state = published
    with transaction(services.factory) as session:
        rows = session.query(OutboxRow).filter(OutboxRow.reason.like("publish:ruiquan%")).all()
        assert {r.target for r in rows} == {"leaders", "yuhong", "ruiquan"}  # the text
    pictures = _picture_rows(services)
    assert set(pictures) == {"leaders", "ruiquan"}  # WeCom groups; yuhong is DingTalk
    # 公布 drew nothing inside its transaction: the outbox draws the picture as it sends.
    assert not any(Path(p).exists() for p in pictures.values())

    with httpx.Client(timeout=5) as http:
        make_outbox(services, http).drain_all()

    for key, target in (("leaders", "leaders-key"), ("ruiquan", "ruiquan-key")):
        [image] = [
            m
            for m in state.messages(api="webhook/send", target=target)
            if m.body["msgtype"] == "image"
        ]
        png = base64.b64decode(image.body["image"]["base64"])
        assert png == Path(pictures[key]).read_bytes()
        assert png.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(png)).height > 300
    assert state.messages(api="robot/send", target="yuhong-token")  # text only there
    with transaction(services.factory) as session:
        statuses = {
            r.status for r in session.query(OutboxRow).filter(OutboxRow.reason == "picture:ruiquan")
        }
    assert statuses == {"sent"}


def test_a_withdrawn_result_sends_no_picture(published: tuple[Services, EmulatorState]) -> None:
    services, state = published
    chat = PrivateChat(services.dispatcher, "unpub")
    assert "撤销" in chat("lixuebin", "撤销公布")
    with httpx.Client(timeout=5) as http:
        make_outbox(services, http).drain_all()
    sent = state.messages(api="webhook/send")
    assert not [m for m in sent if m.body["msgtype"] == "image"]
    assert not any(Path(p).exists() for p in _picture_rows(services).values())
    with transaction(services.factory) as session:
        statuses = {
            r.status for r in session.query(OutboxRow).filter(OutboxRow.reason == "picture:ruiquan")
        }
    assert statuses == {"dropped"}


def test_a_picture_is_skipped_where_the_platform_takes_none(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "ranking.png"
    path.write_bytes(_png(3))
    seen: list[httpx.Request] = []
    data = campaign("sqlite:///:memory:")
    data["dingtalk"]["oapi_base"] = "http://ding.test"

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        router = build_router(settings_from_mapping(data), http=http, clock=clock)
        message = message_of(
            {
                "platform": "dingtalk",
                "target_kind": "group",
                "target": "yuhong",
                "text": "排名",
                "image_path": str(path),
            }
        )
        router.send(message, dedupe_key="k")
        assert seen == []  # nothing sent: the text push carried the ranking already
        text = message_of(
            {"platform": "dingtalk", "target_kind": "group", "target": "yuhong", "text": "排名"}
        )
        router.send(text, dedupe_key="k2")
        assert len(seen) == 1  # the same group takes text


def test_two_groups_sent_at_once_get_one_whole_picture(
    published: tuple[Services, EmulatorState], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each WeCom group's lane sends its picture push at the same moment; the pushes share
    # one path. The picture is drawn once, and both lanes send the whole file.
    services, _ = published
    drawn: list[int] = []

    def slow_png(table: object, heading: str) -> bytes:
        drawn.append(1)
        time.sleep(0.2)  # long enough for the other lane to arrive meanwhile
        return _png(3)

    monkeypatch.setattr(pictures, "table_png", slow_png)
    with transaction(services.factory) as session:
        rows = session.query(OutboxRow).filter(OutboxRow.reason == "picture:ruiquan").all()
        messages = [message_of(r.payload) for r in rows]
    assert len(messages) == 2
    intent = Intent(kind=PICTURE, subject="ruiquan")
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda m: draw_picture(services.factory, intent, m), messages))
    assert drawn == [1]
    assert Path(done[0].image_path).read_bytes() == _png(3)
    assert not list(Path(done[0].image_path).parent.glob("*.part"))
