"""``edubot doctor``: a pre-flight check in Chinese, one line per item with ✓/✗ and the fix.

The long connections (DingTalk Stream mode, the WeCom robot's 长连接) are checked in
``bot.doctor_links``; ``Check`` (one line) is in ``bot.doctor_check``.

Each check is a function of the settings, an injected HTTP client and ``now``; the HTTP
answers' ``Date`` headers double as the clock check, so no extra request is made for it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, GroupConfig, Settings, load_settings
from bot.doctor_check import Check
from bot.doctor_links import connection_checks
from bot.errors import DeliveryError
from bot.holidays import holiday_warning
from bot.platforms.dingtalk.robot_sender import DingTalkRobotSender, robot_token
from bot.platforms.wecom.webhook_sender import WeComWebhookSender, webhook_key
from handlers.messages import OutboundMessage
from storage.db import make_engine, sqlite_in_memory, writer_turn
from storage.errors import StorageError

CLOCK_TOLERANCE_S = 60
"""Platforms refuse callbacks and signatures outside a few minutes; warn well before."""
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@dataclass
class _Seen:
    """What the HTTP checks saw, for the clock check: (host, server time) pairs."""

    dates: list[tuple[str, datetime]] = field(default_factory=list)

    def note(self, response: httpx.Response) -> None:
        """Remember the server's clock from the answer's ``Date`` header, if any."""
        header = response.headers.get("date")
        if header:
            with contextlib.suppress(TypeError, ValueError):
                self.dates.append((response.request.url.host, parsedate_to_datetime(header)))


def run_doctor(
    config: Path,
    *,
    http: httpx.Client,
    now: datetime,
    env: Mapping[str, str] | None = None,
    send_test: bool = False,
) -> list[Check]:
    """Every check, in the order an operator fixes them; a bad config stops the rest.

    With ``send_test`` each group with a robot address gets a test message.
    """
    try:
        settings = load_settings(config, env)
    except ConfigError as exc:
        return [Check("配置文件", "bad", str(exc), "按提示改正后运行 edubot check-config")]
    environ = os.environ if env is None else env
    seen = _Seen()
    with _platform_clients(settings, http) as clients:
        return [
            Check("配置文件", "ok", f"{config} 有效"),
            database_check(settings),
            *credential_checks(settings, clients, seen),
            *connection_checks(settings, now),
            *webhook_checks(settings),
            *(send_test_checks(settings, clients, now) if send_test else ()),
            public_url_check(settings, http, seen),
            proxy_check(environ, settings),
            holiday_check(settings, now),
            clock_check(seen, now),
        ]


Clients = Mapping[str, httpx.Client]
"""The client each platform's calls go through (``"wecom"``, ``"dingtalk"``)."""


@contextlib.contextmanager
def _platform_clients(settings: Settings, http: httpx.Client) -> Iterator[Clients]:
    """``http``, or for a platform with a configured ``proxy`` a client through it, as
    ``serve`` sends (the proxy may be the only way out of the office network)."""
    with contextlib.ExitStack() as stack:
        clients = {}
        wecom, dingtalk = settings.wecom.proxy, settings.dingtalk.proxy
        for platform, proxy in (("wecom", wecom), ("dingtalk", dingtalk)):
            clients[platform] = (
                stack.enter_context(httpx.Client(proxy=proxy, timeout=http.timeout))
                if proxy
                else http
            )
        yield clients


_WRITE_PROBE = (
    "DROP TABLE IF EXISTS edubot_doctor_probe",
    "CREATE TABLE edubot_doctor_probe (x INTEGER)",
    "INSERT INTO edubot_doctor_probe VALUES (1)",
    "DROP TABLE edubot_doctor_probe",
)
"""A write to the database itself: a temporary table lives elsewhere (SQLite's temp store)
and takes writes on a read-only database or a full disk. SQLite and PostgreSQL roll all of
it back; MariaDB commits each statement, so the table is dropped again (and first, in case
an earlier check died half-way)."""


def database_check(settings: Settings) -> Check:
    """A write in a transaction that is rolled back, and for SQLite a writable directory."""
    url = settings.database.url
    fix = "检查 [database] url，以及数据库账号对库的写权限"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not sqlite_in_memory(url):
        folder = Path(parsed.database or ".").resolve().parent
        if folder.exists() and not os.access(folder, os.W_OK):
            return Check(
                "数据库", "bad", f"目录 {folder} 不可写", f"给运行服务的账号 {folder} 的写权限"
            )
    try:
        engine = make_engine(url, busy_timeout_ms=settings.database.busy_timeout_ms)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        return Check("数据库", "bad", f"无法连接（{exc.__class__.__name__}）", fix)
    try:
        with writer_turn(engine), engine.connect() as conn, conn.begin() as tx:
            for statement in _WRITE_PROBE:
                conn.execute(text(statement))
            tx.rollback()
    except (SQLAlchemyError, OSError, StorageError) as exc:
        return Check("数据库", "bad", f"无法写入（{str(exc).splitlines()[0][:120]}）", fix)
    finally:
        engine.dispose()
    return Check("数据库", "ok", f"{parsed.get_backend_name()} 可写")


def credential_checks(settings: Settings, clients: Clients, seen: _Seen) -> Iterator[Check]:
    """Fetch a token with each configured platform's credentials, against its API base."""
    wecom = settings.wecom
    if not (wecom.corp_id or wecom.secret):
        yield Check("企业微信凭据", "skip", "未配置 [wecom] corp_id 和 secret")
    else:
        url = f"{wecom.api_base.rstrip('/')}/cgi-bin/gettoken"
        params = {"corpid": wecom.corp_id, "corpsecret": wecom.secret}
        yield _token_check(
            "企业微信凭据",
            lambda: clients["wecom"].get(url, params=params),
            lambda data: data.get("errcode") == 0 and bool(data.get("access_token")),
            "核对 [wecom] corp_id（我的企业→企业ID）和 secret（自建应用→Secret），"
            "并在应用的“企业可信IP”里加入本机出口 IP",
            seen,
        )
    ding = settings.dingtalk
    if not (ding.app_key or ding.app_secret):
        yield Check("钉钉凭据", "skip", "未配置 [dingtalk] app_key 和 app_secret")
    else:
        url = f"{ding.api_base.rstrip('/')}/v1.0/oauth2/accessToken"
        body = {"appKey": ding.app_key, "appSecret": ding.app_secret}
        yield _token_check(
            "钉钉凭据",
            lambda: clients["dingtalk"].post(url, json=body),
            lambda data: bool(data.get("accessToken")),
            "核对 [dingtalk] app_key 和 app_secret（开发者后台→应用→凭证与基础信息）",
            seen,
        )


def _token_check(
    item: str,
    send: Callable[[], httpx.Response],
    accepted: Callable[[dict[str, object]], bool],
    fix: str,
    seen: _Seen,
) -> Check:
    try:
        response = send()
    except httpx.HTTPError as exc:
        return Check(
            item, "bad", f"连不上（{exc.__class__.__name__}）", "检查网络、防火墙和代理设置"
        )
    seen.note(response)
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and response.is_success and accepted(data):
        return Check(item, "ok", "取到 access token")
    reason = ""
    if isinstance(data, dict):
        reason = str(data.get("errmsg") or data.get("message") or data.get("code") or "")
    return Check(
        item, "bad", f"被拒绝（HTTP {response.status_code}{'，' + reason if reason else ''}）", fix
    )


def webhook_checks(settings: Settings) -> Iterator[Check]:
    """Each group's robot address is well-formed (no message is sent)."""
    for group in settings.groups:
        item = f"群 {group.name or group.key}"
        if group.platform == "wecom" and _by_long_connection(settings, group):
            yield Check(item, "ok", "经智能机器人长连接推送（须有人先在群里 @机器人 说过话）")
            continue
        if group.platform == "wecom":
            key = webhook_key(group.webhook) if group.webhook else ""
            if not key or any(c.isspace() for c in key):
                fix = "在群里添加群机器人，把它的 webhook 地址（…/webhook/send?key=…）填入 webhook"
                yield Check(item, "bad", "企业微信群机器人地址缺失或不完整", fix)
                continue
        else:
            token = robot_token(group.webhook) if group.webhook else ""
            if group.webhook and not token:
                fix = "填写自定义机器人的完整 webhook（…/robot/send?access_token=…）"
                yield Check(item, "bad", "钉钉机器人地址里没有 access_token", fix)
                continue
            if not group.webhook and not group.chat_id:
                fix = "填写自定义机器人的 webhook，或群的 chat_id（由应用机器人推送）"
                yield Check(item, "bad", "既没有机器人地址也没有 chat_id，无法推送", fix)
                continue
            if group.secret and not group.secret.startswith("SEC"):
                yield Check(item, "bad", "加签密钥应以 SEC 开头", "从机器人安全设置→加签处重新复制")
                continue
        yield Check(item, "ok", "机器人地址格式正确")


def _by_long_connection(settings: Settings, group: GroupConfig) -> bool:
    """A WeCom group pushed to over the robot's long connection (no webhook)."""
    return not group.webhook and bool(group.chat_id) and settings.wecom.robot_mode == "websocket"


TEST_TEXT = "【edubot 自检】这是一条测试消息，说明机器人可以往本群推送。无需回复。"


class _At:
    """A clock stopped at ``now`` (DingTalk's robot signature carries a timestamp)."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        """The doctor's ``now``."""
        return self._now


def send_test_checks(settings: Settings, clients: Clients, now: datetime) -> Iterator[Check]:
    """Send ``TEST_TEXT`` through each group's robot, directly (not via the outbox)."""
    for group in settings.groups:
        item = f"测试消息 → {group.name or group.key}"
        if not group.webhook:
            yield Check(item, "skip", "没有机器人地址（经应用机器人或长连接推送，未测试）")
            continue
        sender: WeComWebhookSender | DingTalkRobotSender
        if group.platform == "wecom":
            sender = WeComWebhookSender(
                http=clients["wecom"], api_base=settings.wecom.api_base, webhook=group.webhook
            )
        else:
            sender = DingTalkRobotSender(
                http=clients["dingtalk"],
                clock=_At(now),
                oapi_base=settings.dingtalk.oapi_base,
                webhook=group.webhook,
                secret=group.secret,
            )
        message = OutboundMessage(group.platform, "group", group.key, TEST_TEXT)
        try:
            sender.send(message, dedupe_key=f"doctor-{group.key}-{now.timestamp():.0f}")
        except DeliveryError as exc:
            fix = "核对机器人地址和加签密钥；机器人被移出群时需重新添加"
            yield Check(item, "bad", f"发送失败（{exc}）", fix)
            continue
        yield Check(item, "ok", "已发送，请到群里确认")


def public_url_check(settings: Settings, http: httpx.Client, seen: _Seen) -> Check:
    """``[server] public_url`` answers ``/healthz`` (needed for DingTalk download links)."""
    base = settings.server.public_url.rstrip("/")
    if not base:
        return Check("公网地址", "skip", "未配置 [server] public_url（钉钉里发导出文件时需要）")
    try:
        response = http.get(f"{base}/healthz")
    except httpx.HTTPError as exc:
        return Check("公网地址", "bad", f"{base} 访问不到（{exc.__class__.__name__}）", _URL_FIX)
    seen.note(response)
    if response.status_code != 200:
        return Check(
            "公网地址", "bad", f"{base}/healthz 返回 HTTP {response.status_code}", _URL_FIX
        )
    return Check("公网地址", "ok", f"{base} 可访问")


_URL_FIX = "确认服务已启动、nginx 已转发到 edubot、域名解析和证书正确"


def proxy_check(environ: Mapping[str, str], settings: Settings | None = None) -> Check:
    """Which proxy outbound requests use, password hidden: a platform's configured
    ``proxy`` first, else the environment's (httpx and websockets read it)."""
    configured = []
    if settings is not None:
        for label, proxy in (("企业微信", settings.wecom.proxy), ("钉钉", settings.dingtalk.proxy)):
            if proxy:
                configured.append(f"{label}经 {_shown(proxy)}")
    found = next(((name, environ[name]) for name in _PROXY_VARS if environ.get(name)), None)
    if not configured and found is None:
        return Check("代理", "skip", "未使用代理（直连）")
    if not configured:
        assert found is not None
        return Check("代理", "ok", f"经 {_shown(found[1])} 访问外网（{found[0]}）")
    rest = f"其余经 {_shown(found[1])}（{found[0]}）" if found else "其余直连"
    return Check("代理", "ok", "、".join(configured) + f"（配置文件），{rest}")


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def holiday_check(settings: Settings, now: datetime) -> Check:
    """Every year with a ``workdays_only`` reminder ahead has holiday data."""
    warning = holiday_warning(settings, now)
    if warning:
        return Check(
            "节假日数据", "bad", warning.split("，")[0], "在配置文件 [calendar] 中写入放假安排"
        )
    return Check("节假日数据", "ok", "有提醒的年份都有放假安排")


def clock_check(seen: _Seen, now: datetime) -> Check:
    """This machine's clock against the servers that answered."""
    if not seen.dates:
        return Check("时钟", "skip", "没有可对照的服务器（未配置平台凭据和公网地址）")
    host, theirs = seen.dates[0]
    drift = (now - theirs).total_seconds()
    if abs(drift) > CLOCK_TOLERANCE_S:
        fix = "开启时间同步（如 timedatectl set-ntp true），再重启服务"
        return Check(
            "时钟", "bad", f"本机比 {host} {'快' if drift > 0 else '慢'} {abs(drift):.0f} 秒", fix
        )
    return Check("时钟", "ok", f"与 {host} 相差 {abs(drift):.0f} 秒")
