"""``edubot demo``: the whole story on the sample campaign, with no credentials.

It starts the real service and the platform emulator on loopback (SQLite in a temporary
folder), then plays seed 000's venue on an accelerated clock: venue reminders, judges scoring
over WeCom and DingTalk (a typo refused and resent, a correction), completion, the hosts
publishing, leaders receiving rankings, principals reminded of a report deadline, one
submitting late, the overdue list reaching the leaders. WeCom messages go through the real
HTTP endpoints with real encryption; the DingTalk venue is heard over Stream mode, the
connection the bot opens itself (no public URL), and every push goes through the outbox and
the emulator. At the end the 成绩汇总表 is written as .xlsx.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import httpx
from rich.console import Console
from rich.rule import Rule

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import Settings, load_settings
from bot.devtools.demo_desk import desk_links
from bot.devtools.emulator import EmulatorServer, EmulatorState
from bot.devtools.emulator.players import (
    dingtalk_callback,
    wecom_app_callback,
    wecom_robot_callback,
)
from bot.devtools.serving import LoopbackServer
from bot.outbox import OutboxSender
from bot.platforms.wecom.crypto import WeComCrypto
from bot.runtime import attach_connections, make_outbox, plan_on_start
from bot.scheduler import run_planners
from handlers.score_sheet import export_venue
from storage.db import transaction

SAMPLE = Path(__file__).with_name("sample.toml")
START = datetime.fromisoformat("2022-02-12T17:55:00+08:00")


@dataclass
class Story:
    """The running demo: services, emulator, clock and what has been shown."""

    settings: Settings
    services: Services
    emulator: EmulatorState
    outbox: OutboxSender
    clock: FakeClock
    base_url: str
    console: Console
    http: httpx.Client
    shown: int = 0
    ids: count[int] = field(default_factory=lambda: count(1))
    sessions: dict[str, str] = field(default_factory=dict)
    base_url_emulator: str = ""

    # ---------------------------------------------------------------- time and pushes

    def at(self, when: str) -> None:
        """Move the clock to ``when`` (Shanghai time) and deliver everything that fell due."""
        self.clock.set(datetime.fromisoformat(f"{when}+08:00"))
        self.deliver()

    def deliver(self) -> None:
        """Run the planners at the clock's time and show every push the outbox delivered."""
        run_planners(self.services.factory, self.settings, self.clock.now())
        self.outbox.drain_all()
        self._show_new_pushes()

    def _show_new_pushes(self) -> None:
        delivered = self.emulator.messages()  # token fetches are not pushes
        names = _group_names(self.settings)
        for message in delivered[self.shown :]:
            text = _text_of(message.body)
            if message.api == "session":
                who = self.sessions.get(message.target, message.target)
                self.console.print(f"  [green]🤖 → {who}[/]（钉钉）{_indent(text)}")
                continue
            where = names.get(message.target, message.target)
            self.console.print(f"  [magenta]📣 推送 → {where}[/] {_indent(text)}")
        self.shown = len(delivered)

    # ---------------------------------------------------------------- people talking

    def wecom_app(self, user: str, name: str, text: str) -> None:
        """A private message to the WeCom self-built app; the answer is the passive reply."""
        crypto = WeComCrypto(
            self.settings.wecom.token,
            self.settings.wecom.encoding_aes_key,
            self.settings.wecom.corp_id,
        )
        now = int(self.clock.now().timestamp())
        query, body = wecom_app_callback(
            crypto,
            to_user=self.settings.wecom.corp_id,
            from_user=user,
            content=text,
            msg_id=f"demo{next(self.ids)}",
            agent_id=self.settings.wecom.agent_id,
            create_time=now,
        )
        self._say(name, "企业微信·私聊", text)
        response = self.http.post(f"{self.base_url}/wecom/callback", params=query, content=body)
        response.raise_for_status()
        envelope = ET.fromstring(response.content)
        inner = ET.fromstring(crypto.decrypt(envelope.findtext("Encrypt") or ""))
        self.console.print(f"  [green]🤖 → {name}[/] {_indent(inner.findtext('Content') or '')}")

    def wecom_group(self, user: str, name: str, chat_id: str, text: str) -> None:
        """@bot in a WeCom group through the intelligent robot; the answer is the stream."""
        crypto = WeComCrypto(
            self.settings.wecom.robot_token, self.settings.wecom.robot_encoding_aes_key, ""
        )
        query, body = wecom_robot_callback(
            crypto,
            msgid=f"demo{next(self.ids)}",
            from_userid=user,
            content=f"@评分助手 {text}",
            timestamp=int(self.clock.now().timestamp()),
            chatid=chat_id,
        )
        self._say(name, "企业微信·群", text)
        response = self.http.post(f"{self.base_url}/wecom/robot", params=query, content=body)
        response.raise_for_status()
        plain = json.loads(crypto.decrypt(response.json()["encrypt"]))
        self.console.print(f"  [green]🤖 → {name}[/] {_indent(plain['stream']['content'])}")

    def dingtalk(self, staff: str, name: str, conversation: str, text: str) -> None:
        """@bot in a DingTalk group, over the Stream connection; the answer comes back
        through the sessionWebhook."""
        msg_id = f"demo{next(self.ids)}"
        now = self.clock.now()
        path = self.emulator.open_session(msg_id, now + timedelta(minutes=90))
        self.sessions[msg_id] = name
        _, body = dingtalk_callback(
            self.settings.dingtalk.app_secret,
            msg_id=msg_id,
            sender_staff_id=staff,
            sender_nick=name,
            content=text,
            create_at_ms=int(now.timestamp() * 1000),
            timestamp_ms=int(now.timestamp() * 1000),
            conversation_id=conversation,
            conversation_type="2" if conversation else "1",
            session_webhook=f"{self.base_url_emulator}{path}",
        )
        self._say(name, "钉钉·群·Stream" if conversation else "钉钉·私聊·Stream", text)
        if self.emulator.dingtalk_stream.deliver(body)["code"] != 200:  # acked once recorded
            raise RuntimeError(f"the Stream connection did not take {msg_id}")
        self.deliver()

    def _say(self, name: str, where: str, text: str) -> None:
        self.console.print(f"[cyan]{name}[/]（{where}）：{_indent(text)}")


def _indent(text: str) -> str:
    return text.replace("\n", "\n      ")


def _text_of(body: dict[str, Any]) -> str:
    if isinstance(body.get("msgParam"), str):  # a DingTalk app robot message
        param = json.loads(body["msgParam"])
        return str(param.get("content") or param.get("text") or "")
    if body.get("msgtype") == "image":
        return "（图片：排名表）"
    for key in ("text", "markdown"):
        part = body.get(key)
        if isinstance(part, dict):
            return str(part.get("content") or part.get("text") or "")
    return json.dumps(body, ensure_ascii=False)[:200]


def _group_names(settings: Settings) -> dict[str, str]:
    names: dict[str, str] = {}
    for group in settings.groups:
        names[group.webhook] = (
            f"{group.name}（{'企业微信' if group.platform == 'wecom' else '钉钉'}）"
        )
    for person in settings.people:
        for user_id in (person.wecom_userid, person.dingtalk_userid):
            if user_id:
                names[user_id] = f"{person.name}（私信）"
    return names


STEPS = 8


def _step(story: Story, number: int, when: str, title: str, *, fast: bool) -> None:
    if not fast:
        time.sleep(0.4)
    story.console.print(Rule(f"[{number}/{STEPS}] {when} {title}"))


def play(story: Story, out: Path, *, fast: bool) -> Path:
    """The story. Returns the path of the exported 成绩汇总表."""
    _reminders(story, fast=fast)
    _wecom_scoring(story, fast=fast)
    _dingtalk_scoring(story, fast=fast)
    _publishing(story, fast=fast)
    _reports(story, fast=fast)
    return _export(story, out, fast=fast)


def _reminders(s: Story, *, fast: bool) -> None:
    """Steps 1–2: the venue reminders, the evening before and an hour before."""
    _step(s, 1, "2月12日 18:00", "会场前一晚：提醒推送到会场群", fast=fast)
    s.at("2022-02-12T18:00:30")

    _step(s, 2, "2月13日 07:00", "开始前一小时：再次提醒", fast=fast)
    s.at("2022-02-13T07:00:30")


def _wecom_scoring(s: Story, *, fast: bool) -> None:
    """Step 3: judges score over WeCom, in the group and privately; a typo, a correction."""
    _step(s, 3, "2月13日 08:40", "瑞泉中学会场：评委在企业微信里评分", fast=fast)
    s.at("2022-02-13T08:40:00")
    s.wecom_group("shenyi", "申毅", "wrRuiquanGroup", "评分 瑞泉中学 18 22 17 20 9")
    s.wecom_group(
        "shenyi",
        "申毅",
        "wrRuiquanGroup",
        "评分\n杜桥 19 23 18 22 9\n3号 18 22 18 21 9\n韩马 17 20 16 20 8\n育红 16 20 15 19 8",
    )
    s.wecom_app(
        "liangfei",
        "梁飞",
        "打分 瑞泉中学共同体 90\n杜桥中学 88\n尚德 八十九\n韩马 80\n"
        "5号 目标16 措施20 进展15.5 成效20 表现8",
    )
    s.wecom_app("zhangweili", "张伟利", "评分 瑞泉中学 19 27 17 20 9")
    s.wecom_app("zhangweili", "张伟利", "评分 瑞泉中学 19 22 17 20 9")
    s.wecom_app("liangfei", "梁飞", "更正 杜桥中学 18 22 18 21 8")
    s.wecom_app(
        "zhangweili",
        "张伟利",
        "评分\n杜桥 19 23 18 18 9\n尚德 86\n韩马 82\n育红 １６　２０　１６　２０　８",
    )
    s.deliver()


def _dingtalk_scoring(s: Story, *, fast: bool) -> None:
    """Step 4: judges score in the DingTalk group."""
    _step(s, 4, "2月13日 09:10", "育红初中会场：评委在钉钉群里评分", fast=fast)
    s.at("2022-02-13T09:10:00")
    conv = "cidYuhongGroup"
    s.dingtalk(
        "ding-dangpanfeng",
        "党攀峰",
        conv,
        "评分\n实验 18 22 17 20 9\n前进路 19 23 18 22 9\n陇海 17 21 16 20 8\n南京路 18 22 18 21 9",
    )
    s.dingtalk("ding-fanwenying", "樊文英", conv, "评分\n1号 85\n2号 90\n3号 80\n4号 88")
    s.dingtalk(
        "ding-hanxiaobin",
        "韩晓斌",
        conv,
        "评分\n实验初中共同体 86\n前进路初中共同体 89\n陇海初中共同体 81\n南京路初中共同体 87",
    )


def _publishing(s: Story, *, fast: bool) -> None:
    """Step 5: hosts check progress and publish; leaders receive the ranking."""
    _step(s, 5, "2月13日 11:30", "主持人查看进度并公布，领导小组收到排名", fast=fast)
    s.at("2022-02-13T11:30:00")
    s.wecom_app("lixuebin", "李学斌", "进度")
    s.wecom_app("lixuebin", "李学斌", "公布")
    s.dingtalk("ding-guofeng", "郭锋", "", "公布")
    s.deliver()


def _reports(s: Story, *, fast: bool) -> None:
    """Steps 6–7: report deadline reminders, submissions, the overdue list, a late one."""
    _step(s, 6, "2月14日—16日", "书面报告截止：只提醒未交的校长", fast=fast)
    s.at("2022-02-14T10:00:00")
    s.wecom_app(
        "dq-principal", "杜桥中学校长", "提交 书面报告 https://pan.example.cn/s/duqiao-2022"
    )
    s.at("2022-02-15T18:00:30")
    s.at("2022-02-16T16:00:30")
    s.wecom_app(
        "rq-principal", "瑞泉中学校长", "提交 书面报告 https://pan.example.cn/s/ruiquan-2022"
    )

    _step(s, 7, "2月16日 18:00", "截止：逾期名单推送给领导小组；逾期提交被标记", fast=fast)
    s.at("2022-02-16T18:00:30")
    s.at("2022-02-16T20:05:00")
    s.dingtalk(
        "ding-sd-principal",
        "尚德中学校长",
        "",
        "提交 书面报告 https://pan.example.cn/s/shangde-2022",
    )


def _export(s: Story, out: Path, *, fast: bool) -> Path:
    """Step 8: the host exports the 成绩汇总表; returns its path."""
    _step(s, 8, "2月16日", "主持人导出成绩汇总表（附件4）", fast=fast)
    with transaction(s.services.factory) as session:
        _, path = export_venue(
            session,
            "ruiquan",
            fmt="xlsx",
            out=out / "ruiquan-成绩汇总表.xlsx",
            tz=s.settings.tz,
            now=s.clock.now(),
        )
    assert path is not None
    return path


def run_demo(
    *,
    out: Path,
    keep: bool = False,
    fast: bool = False,
    console: Console | None = None,
    scene: str = "forum",
) -> int:
    """Run the demo: the xlsx goes to ``out``; ``keep`` leaves everything running, ``fast``
    skips the pauses; ``scene`` is the forum day or the weekly reporting (周报) over three
    weeks. Returns the exit code."""
    from bot.devtools import demo_reporting as reporting  # noqa: PLC0415 - imports this

    console = console or Console(highlight=False)
    out.mkdir(parents=True, exist_ok=True)
    weekly = scene == "reporting"
    with tempfile.TemporaryDirectory(prefix="edubot-demo-") as tmp:
        clock = FakeClock(datetime.fromisoformat(reporting.START) if weekly else START)
        emulator_state = EmulatorState(clock)
        with EmulatorServer(emulator_state) as emulator:
            env = {"EDUBOT_DEMO_DIR": tmp, "EDUBOT_DEMO_API": emulator.base_url}
            settings = load_settings(SAMPLE, env=env)
            if weekly:
                settings = reporting.reporting_settings(settings)
            emulator_state.register(settings)
            services = build_services(settings, clock=clock)
            plan_on_start(services)
            with (
                httpx.Client(timeout=10) as http,
                LoopbackServer(create_app(services), name="edubot-demo") as server,
            ):
                outbox = make_outbox(services, http)
                for connection in attach_connections(services):
                    connection.start()  # DingTalk Stream mode (sample.toml)
                emulator_state.dingtalk_stream.wait_for_peers(1)
                parts = (settings, services, emulator_state, outbox, clock)
                story = Story(*parts, server.base_url, console, http)
                story.base_url_emulator = emulator.base_url
                console.print(
                    f"[bold]edubot demo[/] — 服务 {server.base_url}"
                    f" · 平台模拟器 {emulator.base_url}"
                    f" · SQLite {tmp}/edubot.db\n"
                    "钉钉会场经 Stream 模式接入：机器人主动连出，无需公网地址。"
                )
                reporting.play_scene(story, out, fast=fast, weekly=weekly)
                sent = len([m for m in emulator_state.attempts() if m.delivered])
                console.print(
                    f"平台模拟器共收到 {sent} 条消息；全部经过真实的加解密、签名与发件箱。"
                )
                if keep:
                    for label, link in desk_links(services, server.base_url):
                        console.print(f"  {label}：{link}", soft_wrap=True)
                    _keep(console, server.base_url, emulator.base_url, tmp, env)
                for item in services.background:
                    item.stop()
            services.engine.dispose()
    return 0


def _keep(console: Console, service: str, emulator: str, tmp: str, env: dict[str, str]) -> None:
    config = Path(tmp) / "edubot.toml"
    text = SAMPLE.read_text(encoding="utf-8")
    for key, value in env.items():
        text = text.replace("${" + key + "}", value)
    config.write_text(text, encoding="utf-8")
    console.print(
        f"服务与模拟器保持运行（Ctrl-C 结束）：\n  服务 {service}/healthz\n"
        f"  模拟器收到的消息 {emulator}/_emulator/messages\n"
        f"  以评委身份对话：edubot chat --config {config} --as 申毅"
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("已结束。")
