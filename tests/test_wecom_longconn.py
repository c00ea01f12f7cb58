"""The WeCom intelligent robot's long connection over real sockets on loopback.

The service is built as ``edubot serve`` builds it, against the emulator's ``/aibot-ws``;
heartbeats, backoff and the lease are shortened so that every test takes well under a
second or two.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock, SystemClock
from bot.config import Settings
from bot.connections.backoff import Backoff
from bot.connections.runner import LongConnection
from bot.devtools.emulator.longconn_hub import WeComLongHub
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.state import EmulatorState
from bot.errors import MalformedRequest
from bot.platforms.wecom.longconn import MAX_REPLY_BYTES, WELCOME, parse_frame, stream_reply
from bot.runtime import attach_connections
from handlers.messages import Reply
from storage.db import transaction
from storage.models import InboundMessageRow
from tests.conftest import make_settings
from tests.support.campaign import campaign
from tests.support.http_proxy import LoopbackProxy
from tests.support.waiting import wait_until

FAST = Backoff(base=0.05, cap=0.2)
BOT = "aibot-ruiquan"
SECRET = "robot-secret"


def _settings(
    db_url: str,
    tmp_path: Path,
    ws_url: str,
    secret: str,
    lease_s: int,
    proxy: str = "",
    **overrides: Any,
) -> Settings:
    wecom = {
        **campaign()["wecom"],
        "robot_mode": "websocket",
        "robot_bot_id": BOT,
        "robot_secret": secret,
        "robot_ws_url": ws_url,
        "robot_lease_seconds": lease_s,
        "proxy": proxy,
    }
    return make_settings(db_url, tmp_path, wecom=wecom, **overrides)


@dataclass
class Instance:
    services: Services
    http: TestClient
    connection: LongConnection

    def healthz(self) -> dict[str, Any]:
        return dict(self.http.get("/healthz").json())


@dataclass
class Robot:
    hub: WeComLongHub
    instances: list[Instance]
    state: EmulatorState
    base_url: str
    ids: int = 0

    def say(self, userid: str, text: str, msg_id: str | None = None) -> dict[str, Any]:
        """A group text to the robot; returns WeCom's view of the answer frame."""
        self.ids += 1
        body = {
            "msgid": msg_id or f"wx-{self.ids}",
            "aibotid": BOT,
            "chatid": "wrRuiquan",
            "chattype": "group",
            "from": {"userid": userid},
            "msgtype": "text",
            "text": {"content": f"@评审助手 {text}"},
        }
        return self.hub.deliver(BOT, body)


@contextmanager
def robot(
    db_url: str,
    tmp_path: Path,
    clock: FakeClock,
    *,
    secret: str = SECRET,
    instances: int = 1,
    lease_s: int = 20,
    proxy: str = "",
    **overrides: Any,
) -> Iterator[Robot]:
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator, ExitStack() as stack:
        ws_url = emulator.base_url.replace("http", "ws", 1) + "/aibot-ws"
        state.wecom_longconn.add_robot(BOT, SECRET)
        running: list[Instance] = []
        for index in range(instances):
            settings = _settings(db_url, tmp_path, ws_url, secret, lease_s, proxy, **overrides)
            services = build_services(settings, clock=clock)
            stack.callback(services.engine.dispose)
            (connection,) = attach_connections(
                services,
                backoff=FAST,
                heartbeat=0.5,  # short, yet no false alarm on a loaded machine
                lease_clock=SystemClock(),
                instance=f"instance-{index}",
            )
            http = stack.enter_context(TestClient(create_app(services)))
            running.append(Instance(services, http, connection))
        yield Robot(state.wecom_longconn, running, state, emulator.base_url)


@pytest.fixture
def wecom(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Robot]:
    with robot(sqlite_url, tmp_path, clock) as running:
        yield running


def _inbound(services: Services, msg_id: str) -> int:
    with transaction(services.factory) as session:
        query = select(func.count()).select_from(InboundMessageRow)
        return int(session.scalar(query.where(InboundMessageRow.message_id == msg_id)) or 0)


def test_a_scoring_message_is_recorded_and_answered_with_its_req_id(wecom: Robot) -> None:
    answer = wecom.say("shenyi", "评分 尚德中学 18 22 17 20 9", "wx-score")
    assert answer["cmd"] == "aibot_respond_msg"
    assert answer["headers"]["req_id"]
    stream = answer["body"]["stream"]
    assert answer["body"]["msgtype"] == "stream"
    assert stream["finish"] is True
    assert "尚德中学" in stream["content"]
    assert _inbound(wecom.instances[0].services, "wx-score") == 1
    health = wecom.instances[0].healthz()
    assert health["status"] == "ok"
    assert health["connections"] == [{"name": "wecom-robot", "state": "connected", "reason": ""}]


def test_a_repeated_delivery_gets_the_same_answer_and_one_record(wecom: Robot) -> None:
    first = wecom.say("shenyi", "评分 尚德中学 18 22 17 20 9", "wx-dup")
    again = wecom.say("shenyi", "评分 尚德中学 18 22 17 20 9", "wx-dup")
    assert again["body"]["stream"]["content"] == first["body"]["stream"]["content"]
    assert _inbound(wecom.instances[0].services, "wx-dup") == 1


def test_a_drop_mid_conversation_reconnects_and_the_next_message_is_answered(
    wecom: Robot,
) -> None:
    first = wecom.hub.wait_for_robot(BOT)
    assert (
        "尚德中学"
        in wecom.say("shenyi", "评分 尚德中学 18 22 17 20 9")["body"]["stream"]["content"]
    )
    wecom.hub.drop(BOT)
    wecom.hub.wait_for_robot(BOT, besides=first)
    answer = wecom.say("liangfei", "评分 尚德中学 17 21 16 19 8")
    assert "尚德中学" in answer["body"]["stream"]["content"]
    assert wecom.hub.subscribed == 2


def test_a_silent_connection_counts_as_dropped_and_is_replaced(wecom: Robot) -> None:
    first = wecom.hub.wait_for_robot(BOT)
    wecom.hub.mute = True
    wait_until(lambda: wecom.hub.holder(BOT) is not first, timeout=10.0)
    wecom.hub.mute = False
    wecom.hub.wait_for_robot(BOT, besides=first)
    assert (
        "尚德中学"
        in wecom.say("shenyi", "评分 尚德中学 18 22 17 20 9")["body"]["stream"]["content"]
    )
    pings = [f for f in wecom.hub.upstream if f.get("cmd") == "ping"]
    assert len(pings) >= 2


def test_enter_chat_gets_a_welcome(wecom: Robot) -> None:
    answer = wecom.hub.event(BOT, "enter_chat", userid="shenyi")
    assert answer["cmd"] == "aibot_respond_welcome_msg"
    assert answer["body"] == {"msgtype": "text", "text": {"content": WELCOME}}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[]", id="not-an-object"),
        pytest.param(json.dumps({"cmd": "aibot_msg_callback"}), id="no-headers"),
        pytest.param(
            json.dumps({"cmd": "aibot_unknown", "headers": {"req_id": "r"}}), id="unknown-cmd"
        ),
        pytest.param(
            json.dumps(
                {"cmd": "aibot_msg_callback", "headers": {"req_id": "r"}, "body": {"msgid": "x"}}
            ),
            id="missing-fields",
        ),
        pytest.param(
            json.dumps(
                {
                    "cmd": "aibot_msg_callback",
                    "headers": {"req_id": "r"},
                    "body": {"pad": "x" * (2 * 1024 * 1024)},
                }
            ),
            id="huge",
        ),
    ],
)
def test_bad_frames_are_logged_and_skipped(
    wecom: Robot, raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edubot.wecom.longconn"):
        wecom.hub.send_raw(BOT, raw)
        answer = wecom.say("shenyi", "评分 尚德中学 18 22 17 20 9")
    assert "尚德中学" in answer["body"]["stream"]["content"]
    assert any("skipped" in r.getMessage() for r in caplog.records)
    assert wecom.hub.subscribed == 1


def test_a_wrong_secret_leaves_the_service_up_and_healthz_degraded(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with robot(sqlite_url, tmp_path, clock, secret="wrong") as running:
        wait_until(lambda: running.hub.refused >= 2)
        health = running.instances[0].healthz()
        assert health["status"] == "degraded"
        (connection,) = health["connections"]
        assert connection["name"] == "wecom-robot"
        assert connection["state"] == "refused"
        assert "40058" in connection["reason"]
        assert running.hub.refused < 50  # waits between tries, never spins


def test_two_instances_one_connection_and_a_crashed_holder_is_taken_over(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with robot(db_url, tmp_path, clock, instances=2, lease_s=2) as running:
        first = running.hub.wait_for_robot(BOT)
        states = wait_until(
            lambda: (
                sorted(i.connection.describe()["state"] for i in running.instances)
                == ["connected", "standby"]
            )
        )
        assert states
        holder = next(
            i for i in running.instances if i.connection.describe()["state"] == "connected"
        )
        standby = next(i for i in running.instances if i is not holder)
        assert "instance-" in standby.connection.describe()["reason"]
        assert running.hub.subscribed == 1
        # A crash: the holder's socket goes away and its lease is never released.
        holder.connection._lease.release = lambda: None  # type: ignore[union-attr]
        holder.connection.stop()
        running.hub.wait_for_robot(BOT, besides=first, timeout=5.0)
        wait_until(lambda: standby.connection.describe()["state"] == "connected")
        answer = running.say("shenyi", "评分 尚德中学 18 22 17 20 9", "wx-after")
        assert "尚德中学" in answer["body"]["stream"]["content"]
        assert _inbound(standby.services, "wx-after") == 1


def test_frames_parse_and_replies_fit_wecom_limits() -> None:
    frame = parse_frame(
        json.dumps(
            {"cmd": "aibot_msg_callback", "headers": {"req_id": "r1"}, "body": {"msgid": "m"}}
        )
    )
    assert (frame.cmd, frame.req_id, frame.body) == ("aibot_msg_callback", "r1", {"msgid": "m"})
    answer = parse_frame(json.dumps({"headers": {"req_id": "r2"}, "errcode": 0, "errmsg": "ok"}))
    assert (answer.cmd, answer.errcode) == ("", 0)
    with pytest.raises(MalformedRequest):
        parse_frame(json.dumps({"cmd": "ping", "headers": {}}))
    long = stream_reply(Reply("评" * 10_000), "s1")
    assert len(long["stream"]["content"].encode()) <= MAX_REPLY_BYTES
    assert long["stream"]["content"].endswith("已截断）")
    assert stream_reply(Reply("好"), "s2") == {
        "msgtype": "stream",
        "stream": {"id": "s2", "finish": True, "content": "好"},
    }


def test_websocket_mode_needs_the_robot_id_and_secret(tmp_path: Path) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="robot_bot_id and robot_secret"):
        make_settings(
            "sqlite://", tmp_path, wecom={**campaign()["wecom"], "robot_mode": "websocket"}
        )


def test_a_configured_proxy_carries_the_long_connection(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with LoopbackProxy() as proxy, robot(sqlite_url, tmp_path, clock, proxy=proxy.url) as running:
        answer = running.say("shenyi", "评分 尚德中学 18 22 17 20 9")
        assert "尚德中学" in answer["body"]["stream"]["content"]
        assert [r for r in proxy.requests if r.startswith("CONNECT 127.0.0.1:")]


def test_taken_over_by_another_connection_it_backs_off_instead_of_fighting(
    wecom: Robot, caplog: pytest.LogCaptureFixture
) -> None:
    from websockets.sync.client import connect

    ours = wecom.hub.wait_for_robot(BOT)
    url = ours.socket.url.replace(path="/aibot-ws", query="")
    with (
        caplog.at_level(logging.WARNING, logger="edubot.connections"),
        connect(str(url), proxy=None) as other,
    ):
        other.send(
            json.dumps(
                {
                    "cmd": "aibot_subscribe",
                    "headers": {"req_id": "x"},
                    "body": {"bot_id": BOT, "secret": SECRET},
                }
            )
        )
        assert json.loads(other.recv(timeout=5))["errcode"] == 0
        wait_until(lambda: any("took the robot over" in r.getMessage() for r in caplog.records))
        # Our instance comes back (it holds the lease), and the intruder is the one told so.
        kicked = json.loads(other.recv(timeout=5))
        assert kicked["body"]["event"]["eventtype"] == "disconnected_event"
    assert wecom.hub.subscribed == 3


def test_a_file_over_the_long_connection_is_fetched_with_its_own_key(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    from tests.test_file_submissions import DEADLINES, PEOPLE, PNG

    with robot(sqlite_url, tmp_path, clock, people=PEOPLE, deadlines=DEADLINES) as running:
        media = running.state.add_media(PNG)
        aeskey = running.state.longconn_link_key(media)
        assert aeskey != running.state.robot_aes_key
        body = {
            "msgid": "wx-file",
            "aibotid": BOT,
            "chattype": "single",
            "from": {"userid": "chenxz"},
            "msgtype": "mixed",
            "mixed": {
                "msg_item": [
                    {"msgtype": "text", "text": {"content": "提交 书面报告"}},
                    {
                        "msgtype": "image",
                        "image": {"url": media.robot_url(running.base_url), "aeskey": aeskey},
                    },
                ]
            },
        }
        answer = running.hub.deliver(BOT, body)["body"]["stream"]["content"]
        assert "提交的“书面报告”第 1 版" in answer
        data_dir = Path(running.instances[0].services.settings.server.data_dir)
        stored = [p for p in (data_dir / "submissions").rglob("*") if p.is_file()]
        assert [p.read_bytes() for p in stored] == [PNG]


def test_a_clean_stop_closes_the_socket_and_gives_the_lease_up(wecom: Robot) -> None:
    from storage.models import ConnectionLease

    wecom.hub.wait_for_robot(BOT)
    instance = wecom.instances[0]
    with transaction(instance.services.factory) as session:
        assert session.scalars(select(ConnectionLease.holder)).all() == ["instance-0"]
    instance.connection.stop()
    wait_until(lambda: wecom.hub.holder(BOT) is None)
    with transaction(instance.services.factory) as session:
        assert session.scalars(select(ConnectionLease.holder)).all() == []
    assert instance.connection.describe()["state"] == "stopped"


def test_the_emulator_control_route_sends_a_message_down_the_long_connection(
    wecom: Robot,
) -> None:
    import httpx

    wecom.hub.wait_for_robot(BOT)
    body = {
        "msgid": "wx-route",
        "aibotid": BOT,
        "chatid": "wrRuiquan",
        "chattype": "group",
        "from": {"userid": "shenyi"},
        "msgtype": "text",
        "text": {"content": "@评审助手 评分 尚德中学 18 22 17 20 9"},
    }
    with httpx.Client(timeout=10, trust_env=False) as http:
        answer = http.post(f"{wecom.base_url}/_emulator/wecom/aibot/{BOT}", json=body)
        assert answer.status_code == 200
        assert "尚德中学" in answer.json()["answer"]["body"]["stream"]["content"]
        assert (
            http.post(f"{wecom.base_url}/_emulator/wecom/aibot/nobody", json=body).status_code
            == 409
        )
