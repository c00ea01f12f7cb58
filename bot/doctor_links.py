"""``edubot doctor``'s checks of the connections edubot opens itself (no public URL).

- DingTalk Stream mode (``[dingtalk] mode = "stream"``): ``connections/open`` at
  ``api_base`` takes the app key and secret and hands out a ticket. The ticket is not used;
  it lapses by itself after about 90 s.
- The WeCom robot's long connection (``robot_mode = "websocket"``): ``robot_ws_url``
  answers, and ``aibot_subscribe`` with the robot's id and secret is accepted, then the
  socket is closed. WeCom keeps one connection per robot and a new subscriber pushes the
  old one off, so when a running ``edubot serve`` holds the robot (its lease in the
  database is live) the check does not subscribe: it says who holds it.

Both go through the platform's configured ``proxy`` (or the environment's), as ``serve``
does, and give up after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.connections.lease import robot_lease_name
from bot.doctor_check import Check
from bot.errors import LinkError, LoginRefused
from bot.platforms.dingtalk.stream import open_connection
from bot.platforms.wecom.longconn import probe
from storage.db import make_engine, make_session_factory, transaction
from storage.errors import StorageError
from storage.leases import lease_holder

PROBE_TIMEOUT_S = 5.0
_NETWORK_FIX = "检查本机能否访问外网（防火墙、代理：[{0}] proxy 或 HTTPS_PROXY）"


def connection_checks(
    settings: Settings, now: datetime, *, timeout: float = PROBE_TIMEOUT_S
) -> Iterator[Check]:
    """One line per long connection the config turns on; none in HTTP callback mode."""
    if settings.dingtalk.mode == "stream":
        yield stream_check(settings, timeout)
    if settings.wecom.robot_mode == "websocket":
        yield longconn_check(settings, now, timeout)


def stream_check(settings: Settings, timeout: float) -> Check:
    """``connections/open`` accepts ``[dingtalk] app_key`` / ``app_secret``."""
    item = "钉钉 Stream 连接"
    ding = settings.dingtalk
    try:
        asyncio.run(open_connection(ding, timeout=timeout))
    except LoginRefused as exc:
        fix = (
            "核对 [dingtalk] app_key 和 app_secret（开发者后台→应用→凭证与基础信息），"
            "并确认机器人的消息接收模式是 Stream 模式"
        )
        return Check(item, "bad", f"{ding.api_base} 拒绝了 AppKey/AppSecret（{_why(exc)}）", fix)
    except (LinkError, OSError, TimeoutError) as exc:
        fix = _network_fix("dingtalk")
        return Check(item, "bad", f"连不上 {ding.api_base}（{_why(exc)}）", fix)
    return Check(item, "ok", "connections/open 接受了 AppKey/AppSecret，可以建立 Stream 连接")


def longconn_check(settings: Settings, now: datetime, timeout: float) -> Check:
    """``robot_ws_url`` answers and ``aibot_subscribe`` is accepted, unless a running
    instance holds the robot (subscribing would push it off)."""
    item = "企业微信长连接"
    wecom = settings.wecom
    holder = _holder(settings, now)
    if holder:
        return Check(item, "skip", f"正由 {holder} 使用（未测试，以免把它挤下线；状态见 /healthz）")
    try:
        asyncio.run(probe(wecom, timeout=timeout))
    except LoginRefused as exc:
        fix = "核对 [wecom] robot_bot_id 和 robot_secret（管理后台→智能机器人→API 模式→长连接）"
        return Check(item, "bad", f"订阅被拒绝（{_why(exc)}）", fix)
    except (LinkError, OSError, TimeoutError) as exc:
        fix = _network_fix("wecom") + f"，以及 robot_ws_url（{wecom.robot_ws_url}）"
        return Check(item, "bad", f"连不上 {wecom.robot_ws_url}（{_why(exc)}）", fix)
    return Check(item, "ok", f"{wecom.robot_ws_url} 可连接，aibot_subscribe 已接受")


def _holder(settings: Settings, now: datetime) -> str | None:
    """The instance holding the robot's lease now, if the database says so."""
    try:
        engine = make_engine(settings.database.url, busy_timeout_ms=1000)
    except (SQLAlchemyError, ImportError, OSError):
        return None
    try:
        with transaction(make_session_factory(engine)) as session:
            return lease_holder(session, robot_lease_name(settings.wecom.robot_bot_id), now=now)
    except (SQLAlchemyError, StorageError, OSError):
        return None  # no database (yet): the subscribe test decides
    finally:
        engine.dispose()


def _why(exc: BaseException) -> str:
    if isinstance(exc, LinkError):
        return exc.reason.split(": ", 2)[-1][:160]  # without "platform: what failed: "
    return exc.__class__.__name__


def _network_fix(section: str) -> str:
    return _NETWORK_FIX.format(section)
