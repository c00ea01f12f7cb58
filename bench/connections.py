"""Benchmark 4 — the long connections: DingTalk Stream mode and the WeCom robot's 长连接.

In one process: the emulator on loopback plays the gateway, the service is built as
``edubot serve`` builds it (SQLite in a temporary folder, the production backoff) with both
connections up. Per connection:

- **throughput**: N distinct ``进度`` messages (a read of the venue's progress, recorded in
  the inbound log like any message), 8 in flight; a message counts once it is acknowledged
  (DingTalk: the ack the bot sends after the commit; the answer itself then leaves through
  the outbox) or answered (WeCom: the ``aibot_respond_msg`` frame);
- **recovery**: the socket is closed by the platform's side, then a message is offered every
  20 ms until one is taken; the time from the drop to that message's ack / answer. It is
  dominated by the first reconnect delay (1 s with jitter, ``Backoff``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

from bench.common import Metric
from bot.app import build_services
from bot.clock import SystemClock
from bot.config import load_settings
from bot.devtools.emulator.players import dingtalk_callback
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.state import EmulatorState
from bot.runtime import attach_connections

SAMPLE = Path(__file__).resolve().parent.parent / "bot" / "devtools" / "sample.toml"
BOT_ID, BOT_SECRET = "benchbot", "bench-secret"


@dataclass(frozen=True)
class ConnectionsPlan:
    messages: int
    runs: int
    in_flight: int = 8


FULL = ConnectionsPlan(messages=400, runs=3)
QUICK = ConnectionsPlan(messages=20, runs=1)


def run_connections(plan: ConnectionsPlan, work: Path) -> tuple[list[Metric], dict[str, Any]]:
    """Both connections against the emulator; the metrics and per-run details."""
    ding_rate = Metric(
        "stream_dingtalk_rate",
        "DingTalk Stream: messages/s, one connection",
        "msg/s",
        higher_is_better=True,
    )
    wecom_rate = Metric(
        "longconn_wecom_rate",
        "WeCom 长连接: messages/s, one connection",
        "msg/s",
        higher_is_better=True,
    )
    ding_gap = Metric(
        "stream_dingtalk_recovery", "DingTalk Stream: drop → next message acked", "s", target=5.0
    )
    wecom_gap = Metric(
        "longconn_wecom_recovery", "WeCom 长连接: drop → next message answered", "s", target=5.0
    )
    details: dict[str, Any] = {"runs": []}
    for run in range(plan.runs):
        folder = work / f"connections-{run}"
        folder.mkdir(parents=True, exist_ok=True)
        result = _one_run(plan, folder)
        details["runs"].append(result)
        ding_rate.runs.append(result["dingtalk_rate"])
        wecom_rate.runs.append(result["wecom_rate"])
        ding_gap.runs.append(result["dingtalk_recovery_s"])
        wecom_gap.runs.append(result["wecom_recovery_s"])
    return [ding_rate, wecom_rate, ding_gap, wecom_gap], details


def _one_run(plan: ConnectionsPlan, folder: Path) -> dict[str, Any]:
    clock = SystemClock()
    state = EmulatorState(clock)
    with EmulatorServer(state) as emulator:
        env = {"EDUBOT_DEMO_DIR": str(folder), "EDUBOT_DEMO_API": emulator.base_url}
        settings = load_settings(SAMPLE, env=env)
        wecom = settings.wecom.model_copy(
            update={
                "robot_mode": "websocket",
                "robot_bot_id": BOT_ID,
                "robot_secret": BOT_SECRET,
                "robot_ws_url": emulator.base_url.replace("http", "ws", 1) + "/aibot-ws",
            }
        )
        settings = settings.model_copy(update={"wecom": wecom})
        state.register(settings)
        services = build_services(settings, clock=clock)
        connections = attach_connections(services)
        for connection in connections:
            connection.start()
        try:
            state.dingtalk_stream.wait_for_peers(1, timeout=10)
            state.wecom_longconn.wait_for_robot(BOT_ID, timeout=10)
            ids = count(1)
            ding = _dingtalk_sender(state, emulator.base_url, ids)
            robot = _wecom_sender(state, ids)
            return {
                "messages": plan.messages,
                "dingtalk_rate": _rate(ding, plan),
                "wecom_rate": _rate(robot, plan),
                "dingtalk_recovery_s": _recovery(ding, state.dingtalk_stream.drop),
                "wecom_recovery_s": _recovery(robot, lambda: state.wecom_longconn.drop(BOT_ID)),
            }
        finally:
            for connection in connections:
                connection.stop()
            services.engine.dispose()


def _dingtalk_sender(
    state: EmulatorState, base_url: str, ids: count[int]
) -> Callable[[float], bool]:
    def send(timeout: float) -> bool:
        msg_id = f"bench-d{next(ids)}"
        now = SystemClock().now()
        path = state.open_session(msg_id, now + timedelta(minutes=90))
        ms = int(now.timestamp() * 1000)
        _, body = dingtalk_callback(
            "unused",
            msg_id=msg_id,
            sender_staff_id="ding-liangfei",
            sender_nick="梁飞",
            content="进度",
            create_at_ms=ms,
            timestamp_ms=ms,
            conversation_id="cidYuhongGroup",
            session_webhook=base_url + path,
        )
        try:
            return bool(state.dingtalk_stream.deliver(body, timeout=timeout)["code"] == 200)
        except (LookupError, TimeoutError):
            return False

    return send


def _wecom_sender(state: EmulatorState, ids: count[int]) -> Callable[[float], bool]:
    def send(timeout: float) -> bool:
        body = {
            "msgid": f"bench-w{next(ids)}",
            "aibotid": BOT_ID,
            "chatid": "wrRuiquanGroup",
            "chattype": "group",
            "from": {"userid": "shenyi"},
            "msgtype": "text",
            "text": {"content": "@评审助手 进度"},
        }
        try:
            answer = state.wecom_longconn.deliver(BOT_ID, body, timeout=timeout)
        except (LookupError, TimeoutError):
            return False
        return answer.get("cmd") == "aibot_respond_msg"

    return send


def _rate(send: Callable[[float], bool], plan: ConnectionsPlan) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(plan.in_flight) as pool:
        taken = list(pool.map(lambda _: send(10.0), range(plan.messages)))
    elapsed = time.perf_counter() - started
    if not all(taken):
        raise RuntimeError(f"{taken.count(False)} of {plan.messages} messages were not taken")
    return plan.messages / elapsed


def _recovery(send: Callable[[float], bool], drop: Callable[[], None]) -> float:
    dropped = time.perf_counter()
    drop()
    deadline = dropped + 60
    while time.perf_counter() < deadline:
        if send(1.0):
            return time.perf_counter() - dropped
        time.sleep(0.02)
    raise RuntimeError("no message was taken within 60 s of the drop")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        metrics, info = run_connections(QUICK, Path(tmp))
        print(json.dumps([m.as_json() for m in metrics], ensure_ascii=False, indent=1))
