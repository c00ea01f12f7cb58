"""DingTalk Stream mode over real sockets on loopback, against the emulated gateway.

The service is built as ``edubot serve`` builds it (dispatcher, outbox, the Stream
connection), with a short backoff; the gateway is the emulator's ``stream_hub``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import Settings
from bot.connections.backoff import Backoff
from bot.connections.runner import LongConnection
from bot.devtools.emulator.players import dingtalk_callback
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.state import EmulatorState
from bot.devtools.emulator.stream_hub import DingTalkStreamHub
from bot.errors import MalformedRequest
from bot.platforms.dingtalk.stream import ack, parse_frame
from bot.runtime import attach_background, attach_connections
from storage.db import transaction
from storage.models import InboundMessageRow
from tests.conftest import make_settings
from tests.support.campaign import DING_SECRET
from tests.support.http_proxy import LoopbackProxy
from tests.support.waiting import wait_until

FAST = Backoff(base=0.05, cap=0.2)


@dataclass
class Stream:
    emulator: EmulatorServer
    hub: DingTalkStreamHub
    services: Services
    http: TestClient
    connection: LongConnection
    clock: FakeClock
    sessions: int = 0

    def message(self, staff: str, text: str, msg_id: str) -> tuple[bytes, str]:
        """A robot message whose sessionWebhook is open on the emulator: (body, session id)."""
        self.sessions += 1
        session_id = f"sess-{msg_id}"
        expires = self.clock.now() + timedelta(minutes=90)
        path = self.emulator.state.open_session(session_id, expires)
        ms = int(self.clock.now().timestamp() * 1000)
        _, body = dingtalk_callback(
            DING_SECRET,
            msg_id=msg_id,
            sender_staff_id=staff,
            sender_nick=staff,
            content=text,
            create_at_ms=ms,
            timestamp_ms=ms,
            conversation_id="cidYuhong",
            conversation_title="育红初中会场群",
            session_webhook=self.emulator.base_url + path,
            robot_code="dingrobot",
        )
        return body, session_id

    def answer(self, session_id: str) -> str:
        """The text the bot sent back through the session webhook (waits for the outbox)."""
        state = self.emulator.state
        sent = wait_until(lambda: state.messages("dingtalk", "session", session_id))
        assert len(sent) == 1
        return str(sent[0].body["text"]["content"])

    def healthz(self) -> dict[str, Any]:
        return dict(self.http.get("/healthz").json())


def _settings(tmp_path: Path, base_url: str, secret: str, proxy: str = "") -> Settings:
    return make_settings(
        f"sqlite:///{tmp_path / 'edubot.db'}",
        tmp_path,
        dingtalk={
            "app_key": "dingappkey",
            "app_secret": secret,
            "robot_code": "dingrobot",
            "api_base": base_url,
            "oapi_base": base_url,
            "mode": "stream",
            "proxy": proxy,
        },
    )


@contextmanager
def running(
    tmp_path: Path,
    clock: FakeClock,
    secret: str = DING_SECRET,
    proxy: str = "",
    ping_interval: float = 5.0,
) -> Iterator[Stream]:
    """The emulator and the service, connected (or trying to) over Stream mode."""
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator:
        # The emulator knows the app by its real secret, whatever the service was given.
        state.register(_settings(tmp_path, emulator.base_url, DING_SECRET))
        settings = _settings(tmp_path, emulator.base_url, secret, proxy)
        services = build_services(settings, clock=clock)
        attach_background(services)
        (connection,) = attach_connections(services, backoff=FAST, ping_interval=ping_interval)
        with TestClient(create_app(services)) as http:
            yield Stream(emulator, state.dingtalk_stream, services, http, connection, clock)
        wait_until(lambda: state.dingtalk_stream.peers() == 0, timeout=2.0)


@pytest.fixture
def stream(tmp_path: Path, clock: FakeClock) -> Iterator[Stream]:
    with running(tmp_path, clock) as stream:
        yield stream


def _inbound(services: Services, msg_id: str) -> int:
    with transaction(services.factory) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(InboundMessageRow)
                .where(InboundMessageRow.message_id == msg_id)
            )
            or 0
        )


def test_a_scoring_message_is_recorded_acked_after_commit_and_answered(stream: Stream) -> None:
    stream.hub.wait_for_peers(1)
    body, session_id = stream.message("ding-dangpanfeng", "评分 实验初中共同体 92", "m-1")
    acked = stream.hub.deliver(body)
    # The ack comes only once the message is in the inbound log.
    assert acked["code"] == 200
    assert acked["headers"]["messageId"]
    assert _inbound(stream.services, "m-1") == 1
    assert "实验初中共同体" in stream.answer(session_id)
    health = stream.healthz()
    assert health["status"] == "ok"
    assert health["connections"] == [
        {"name": "dingtalk-stream", "state": "connected", "reason": ""}
    ]


def test_the_open_request_subscribes_to_robot_messages_only(stream: Stream) -> None:
    stream.hub.wait_for_peers(1)
    assert stream.hub.subscriptions == [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]
    assert (stream.hub.opened, stream.hub.refused) == (1, 0)


def test_system_ping_is_answered_with_its_opaque(stream: Stream) -> None:
    stream.hub.wait_for_peers(1)
    answer = stream.hub.ping()
    assert answer in stream.hub.upstream
    assert answer["code"] == 200
    assert json.loads(answer["data"])["opaque"]


def test_a_repeated_delivery_is_answered_from_the_log_not_recorded_twice(stream: Stream) -> None:
    stream.hub.wait_for_peers(1)
    body, session_id = stream.message("ding-dangpanfeng", "评分 实验初中共同体 90", "m-dup")
    assert stream.hub.deliver(body)["code"] == 200
    assert stream.hub.deliver(body)["code"] == 200
    assert _inbound(stream.services, "m-dup") == 1
    assert "实验初中共同体" in stream.answer(session_id)


def test_a_drop_mid_conversation_reconnects_and_the_next_message_is_answered(
    stream: Stream,
) -> None:
    stream.hub.wait_for_peers(1)
    first, first_session = stream.message("ding-dangpanfeng", "评分 实验初中共同体 91", "m-a")
    stream.hub.deliver(first)
    stream.hub.drop()
    stream.hub.wait_for_peers(1)
    second, second_session = stream.message("ding-fanwenying", "评分 实验初中共同体 88", "m-b")
    assert stream.hub.deliver(second)["code"] == 200
    assert "实验初中共同体" in stream.answer(first_session)
    assert "实验初中共同体" in stream.answer(second_session)
    assert stream.hub.opened == 2
    wait_until(lambda: stream.healthz()["status"] == "ok")


def test_system_disconnect_opens_the_new_connection_before_the_old_one_closes(
    stream: Stream,
) -> None:
    stream.hub.wait_for_peers(1)
    stream.hub.disconnect(grace=1.0)
    # The new socket is up while the old one is still open (draining).
    stream.hub.wait_for_peers(1)
    assert stream.hub.peers() == 2
    body, session_id = stream.message("ding-hanxiaobin", "评分 实验初中共同体 87", "m-c")
    assert stream.hub.deliver(body)["code"] == 200
    assert "实验初中共同体" in stream.answer(session_id)
    wait_until(lambda: stream.hub.peers() == 1)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param(json.dumps({"type": "CALLBACK"}), id="no-headers"),
        pytest.param(
            json.dumps({"type": "WHAT", "headers": {"topic": "x", "messageId": "1"}}),
            id="unknown-type",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "CALLBACK",
                    "headers": {"topic": "/v1.0/im/bot/messages/get", "messageId": "2"},
                    "data": "{",
                }
            ),
            id="bad-data",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "CALLBACK",
                    "headers": {"topic": "/v1.0/im/bot/messages/get", "messageId": "3"},
                    "data": json.dumps({"msgId": "x"}),
                }
            ),
            id="missing-fields",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "CALLBACK",
                    "headers": {"topic": "/v1.0/im/bot/messages/get", "messageId": "4"},
                    "data": "x" * (2 * 1024 * 1024),
                }
            ),
            id="huge-data",
        ),
    ],
)
def test_bad_frames_are_logged_and_skipped(
    stream: Stream, raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    stream.hub.wait_for_peers(1)
    with caplog.at_level(logging.WARNING, logger="edubot.dingtalk.stream"):
        stream.hub.send_raw(raw)
        body, session_id = stream.message("ding-dangpanfeng", "评分 实验初中共同体 93", "m-after")
        assert stream.hub.deliver(body)["code"] == 200
    assert "实验初中共同体" in stream.answer(session_id)
    assert any("skipped" in r.getMessage() for r in caplog.records)
    assert stream.hub.opened == 1  # the same connection carried on


def test_a_wrong_secret_leaves_the_service_up_and_healthz_degraded(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="edubot.connections"),
        running(tmp_path, clock, secret="SEC-wrong") as stream,
    ):
        wait_until(lambda: stream.hub.refused >= 2)
        health = stream.healthz()
        assert health["status"] == "degraded"
        (connection,) = health["connections"]
        assert connection["name"] == "dingtalk-stream"
        assert connection["state"] == "refused"
        assert "401" in connection["reason"]
        # The rest of the service still answers, and the loop waits between tries.
        assert stream.http.get("/healthz").status_code == 503
        assert stream.hub.refused < 50
    assert any("refused" in r.getMessage() for r in caplog.records)


def test_a_clean_stop_closes_the_socket(tmp_path: Path, clock: FakeClock) -> None:
    with running(tmp_path, clock) as stream:
        stream.hub.wait_for_peers(1)
    assert stream.hub.peers() == 0


def test_frames_parse_and_acks_echo_the_message_id() -> None:
    frame = parse_frame(
        json.dumps(
            {
                "type": "SYSTEM",
                "headers": {"topic": "ping", "messageId": "a1"},
                "data": '{"opaque": "o"}',
            }
        )
    )
    assert (frame.type, frame.topic, frame.message_id) == ("SYSTEM", "ping", "a1")
    answer = json.loads(ack("a1", frame.data))
    assert answer == {
        "code": 200,
        "headers": {"contentType": "application/json", "messageId": "a1"},
        "message": "OK",
        "data": '{"opaque": "o"}',
    }
    with pytest.raises(MalformedRequest):
        parse_frame(json.dumps({"type": "SYSTEM", "headers": {"topic": "ping"}}))
    with pytest.raises(MalformedRequest):
        parse_frame(
            json.dumps(
                {"type": "SYSTEM", "headers": {"topic": "ping", "messageId": "a"}, "data": 5}
            )
        )


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 1.0, 1.0), (1, 1.0, 2.0), (3, 4.0, 8.0), (6, 30.0, 60.0), (40, 30.0, 60.0)],
)
def test_backoff_doubles_from_one_second_to_sixty_with_jitter(
    attempt: int, low: float, high: float
) -> None:
    import random

    rng = random.Random(7)
    delays = [Backoff().delay(attempt, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    if high > low:
        assert len(set(delays)) > 100  # jittered, not in step


@pytest.mark.parametrize(
    ("section", "values", "problem"),
    [
        ("dingtalk", {"mode": "stream", "app_key": ""}, "needs app_key and app_secret"),
        ("dingtalk", {"mode": "websocket"}, "mode"),
    ],
)
def test_stream_mode_needs_the_app_credentials(
    tmp_path: Path, section: str, values: dict[str, Any], problem: str
) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=problem):
        make_settings("sqlite://", tmp_path, **{section: {"app_secret": "s", **values}})


def test_a_configured_proxy_carries_the_open_call_and_the_socket(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    with LoopbackProxy() as proxy, running(tmp_path, clock, proxy=proxy.url) as stream:
        stream.hub.wait_for_peers(1)
        body, session_id = stream.message("ding-dangpanfeng", "评分 实验初中共同体 92", "m-proxy")
        assert stream.hub.deliver(body)["code"] == 200
        assert "实验初中共同体" in stream.answer(session_id)
        port = stream.emulator.port
        # The answer, an outbound call like any push, went through the proxy too.
        assert f"POST http://127.0.0.1:{port}/session/{session_id} HTTP/1.1" in proxy.requests
        assert (
            f"POST http://127.0.0.1:{port}/v1.0/gateway/connections/open HTTP/1.1" in proxy.requests
        )
        assert f"CONNECT 127.0.0.1:{port} HTTP/1.1" in proxy.requests


def test_the_https_proxy_variables_are_honoured(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with LoopbackProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # the emulator speaks http:// and ws://
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with running(tmp_path, clock) as stream:
            stream.hub.wait_for_peers(1)
            port = stream.emulator.port
            assert f"CONNECT 127.0.0.1:{port} HTTP/1.1" in proxy.requests
            assert any("/v1.0/gateway/connections/open" in r for r in proxy.requests)


def test_the_emulator_control_route_sends_a_message_down_the_stream(stream: Stream) -> None:
    import httpx

    stream.hub.wait_for_peers(1)
    body, session_id = stream.message("ding-dangpanfeng", "评分 实验初中共同体 92", "m-route")
    url = f"{stream.emulator.base_url}/_emulator/dingtalk/stream"
    with httpx.Client(timeout=10, trust_env=False) as http:
        answer = http.post(url, content=body)
        assert answer.status_code == 200
        assert answer.json()["ack"]["code"] == 200
        assert "实验初中共同体" in stream.answer(session_id)
        stream.connection.stop()
        wait_until(lambda: stream.hub.peers() == 0)
        assert http.post(url, content=body).status_code == 409


def test_a_silent_connection_counts_as_dropped_and_is_replaced(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    with (
        LoopbackProxy() as proxy,
        running(tmp_path, clock, proxy=proxy.url, ping_interval=0.5) as stream,
    ):
        stream.hub.wait_for_peers(1)
        proxy.freeze_open_tunnels()  # nothing passes either way: no frames, no pongs
        wait_until(lambda: stream.hub.opened >= 2, timeout=15.0)  # ~2.5 s unloaded
        stream.hub.wait_for_peers(1, timeout=10.0)
        body, session_id = stream.message("ding-dangpanfeng", "评分 实验初中共同体 92", "m-silent")
        assert stream.hub.deliver(body)["code"] == 200
        assert "实验初中共同体" in stream.answer(session_id)
