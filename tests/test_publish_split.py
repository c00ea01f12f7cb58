"""A large venue's published ranking is split under WeCom's 2,048-byte text limit, and every
part reaches the group (no part refused as too long, none lost, in order)."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.app import build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.runtime import make_outbox
from handlers.messages import InboundMessage
from handlers.text import utf8_len
from tests.support.campaign import campaign

NAMES = [f"第{i:02d}号参赛学校长名称共同体" for i in range(1, 61)]


def test_a_large_ranking_is_split_and_every_part_arrives(tmp_path: Path, clock: FakeClock) -> None:
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator, httpx.Client(timeout=5) as http:
        data = campaign(f"sqlite:///{tmp_path / 'big.db'}")
        data["wecom"]["api_base"] = emulator.base_url
        data["server"] = {"data_dir": str(tmp_path)}
        venue = {**data["venues"][0], "contestants": NAMES, "results_to": []}
        data["venues"] = [venue]
        settings = settings_from_mapping(data)
        state.register(settings)
        services = build_services(settings, clock=clock)
        try:
            ids = iter(range(10_000))
            for judge in ("shenyi", "liangfei", "zhangweili"):
                lines = "\n".join(f"{n}号 {60 + n % 30}" for n in range(1, 61))
                reply = services.dispatcher.process(
                    InboundMessage(
                        "wecom", "wecom_app", f"m{next(ids)}", judge, f"评分\n{lines}", "private"
                    )
                ).reply.text
                assert reply.count("已记录") == 60
            published = services.dispatcher.process(
                InboundMessage("wecom", "wecom_app", "pub", "lixuebin", "公布", "private")
            ).reply.text
            assert published.startswith("已公布并锁定瑞泉中学会场成绩")
            make_outbox(services, http).drain_all()
        finally:
            services.engine.dispose()

    arrived = state.messages(target="ruiquan-key")
    texts = [m.body["text"]["content"] for m in arrived if m.body["msgtype"] == "text"]
    # the ranking's picture follows the text, and the emulator took it (base64 + md5)
    assert [m.body["msgtype"] for m in arrived].count("image") == 1
    result = [t for t in texts if "【成绩公布】" in t]
    assert len(result) >= 2
    assert all(utf8_len(t) <= 2048 for t in result)
    assert result[1].startswith("【成绩公布】学校管理论坛·瑞泉中学会场（续）")
    shown = [line for t in result for line in t.split("\n")[1:]]
    assert len(shown) == 60
    assert all(any(name in line for line in shown) for name in NAMES)
