"""``edubot chat --config edubot.toml --as 申毅``: talk to the bot in the terminal.

The terminal stands in for one configured person's private chat with the bot. Each message
goes through the same dispatcher, handlers, database and outbox as one from WeCom or
DingTalk; only the wire is missing. After each answer the pushes that message caused (new
outbox rows for groups and people) are shown. Chat mode has no network: those pushes stay
pending in the outbox, and a running ``edubot serve`` on the same database sends them.

A line ending with ``\\`` continues on the next one, so a batch can be typed as
``评分\\`` ⏎ ``韩马 19 23 18 22 9``. ``退出`` / ``exit`` or end of input ends the session.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TextIO

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.app import Services, build_services
from bot.clock import Clock
from bot.config import PersonConfig, Settings
from bot.config.base import squeeze
from handlers.context import local_time
from handlers.messages import Channel, InboundMessage, Platform, message_of
from storage.db import transaction
from storage.models import OutboxRow
from storage.people import group_by_key, person_by_platform_id

ROLE_NAMES = {
    "judge": "评委",
    "host": "主持人",
    "principal": "校长/负责人",
    "leader": "领导",
    "organizer": "组织者",
    "admin": "管理员",
}
EXIT_WORDS = frozenset({"退出", "exit", "quit"})
CONTINUE = "\\"
PLATFORM_NAMES = {"wecom": "企业微信", "dingtalk": "钉钉"}


# ── Who is talking ───────────────────────────────────────────────────────────────────────


def find_person(settings: Settings, name: str) -> PersonConfig | None:
    """The configured person called ``name`` (spaces ignored, as the config does)."""
    wanted = squeeze(name)
    return next((p for p in settings.people if p.name == wanted), None)


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who the terminal speaks as, and on which platform."""

    name: str
    platform: Platform
    channel: Channel
    user_id: str


def identity(person: PersonConfig) -> Speaker | None:
    """The platform this person talks on: WeCom if they have a userid, else DingTalk."""
    if person.wecom_userid:
        return Speaker(person.name, "wecom", "wecom_app", person.wecom_userid)
    if person.dingtalk_userid:
        # No sessionWebhook: the dispatcher answers directly and queues no session reply.
        return Speaker(person.name, "dingtalk", "dingtalk", person.dingtalk_userid)
    return None


def duties(settings: Settings, person: PersonConfig) -> list[str]:
    """``评委：瑞泉中学会场`` / ``主持：…`` — what the banner says this person does."""

    def venue(venue_location: str, title: str) -> str:
        return f"{venue_location}会场" if venue_location else title

    judged = [venue(v.location, v.title) for v in settings.venues if person.name in v.judges]
    hosted = [venue(v.location, v.title) for v in settings.venues if v.host == person.name]
    parts = []
    if judged:
        parts.append(f"评委：{'、'.join(judged)}")
    if hosted:
        parts.append(f"主持：{'、'.join(hosted)}")
    return parts


# ── Reading the terminal ─────────────────────────────────────────────────────────────────


Ask = Callable[[str], str | None]
"""Read one line after showing a prompt; None at end of input."""


def messages(ask: Ask, prompt: str, more: str) -> Iterator[str]:
    """The messages typed: ``\\`` at a line's end joins the next line; stops at 退出 / EOF."""
    while True:
        line = ask(prompt)
        if line is None:
            return
        if line.strip() in EXIT_WORDS:
            return
        parts = [line.strip()]
        while parts[-1].endswith(CONTINUE):
            parts[-1] = parts[-1][: -len(CONTINUE)].rstrip()
            following = ask(more)
            if following is None:
                break
            parts.append(following.strip())
        text = "\n".join(parts).strip()
        if text:
            yield text


def _line_reader(stdin: TextIO) -> Ask:
    def ask(prompt: str) -> str | None:
        line = stdin.readline()
        return None if line == "" else line.rstrip("\r\n")

    return ask


def _input_reader(read: Callable[[str], str]) -> Ask:
    def ask(prompt: str) -> str | None:
        try:
            return read(prompt)
        except EOFError:
            return None

    return ask


# ── Pushes ───────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Push:
    """One outbox row, as the chat shows it."""

    to: str
    text: str
    file_path: str = ""
    later: str = ""
    """When the push is due, if not now (``2月12日（周六）18:00``)."""
    mentions: tuple[str, ...] = ()
    """The names the push @-mentions."""


def outbox_mark(session: Session) -> int:
    """The highest outbox id so far: rows above it were caused by what comes next."""
    return int(session.scalar(select(func.max(OutboxRow.id))) or 0)


def pushes_since(session: Session, mark: int, settings: Settings) -> tuple[list[Push], int]:
    """Outbox rows for groups and people written after ``mark``, and the new mark."""
    rows = session.scalars(select(OutboxRow).where(OutboxRow.id > mark).order_by(OutboxRow.id))
    shown: list[Push] = []
    for row in rows:
        mark = max(mark, row.id)
        if row.target_kind not in ("group", "person"):
            continue  # DingTalk session answers: the reply printed above
        message = message_of(row.payload)
        later = ""
        if row.due_at > row.created_at + timedelta(minutes=1):
            later = local_time(row.due_at, settings.tz)
        shown.append(
            Push(
                _target_name(session, row),
                message.text,
                message.file_path,
                later,
                tuple(m.name for m in message.mentions),
            )
        )
    return shown, mark


def _target_name(session: Session, row: OutboxRow) -> str:
    if row.target_kind == "group":
        group = group_by_key(session, row.target)
        return (group.name or group.key) if group is not None else row.target
    person = person_by_platform_id(session, row.platform, row.target)
    return person.name if person is not None else row.target


def push_text(push: Push) -> str:
    """``[推送 → 领导小组群] 【成绩公布】…``, later lines indented."""
    head = f"[推送 → {push.to}]" + (f"（{push.later}发送）" if push.later else "")
    body = push.text.replace("\n", "\n  ")
    text = f"{head} {body}"
    if push.mentions:
        text += "\n  " + " ".join(f"@{name}" for name in push.mentions)
    if push.file_path:
        text += f"\n  （附件：{push.file_path}）"
    return text


# ── Output ───────────────────────────────────────────────────────────────────────────────


class _Screen(Protocol):
    def banner(self, lines: list[str]) -> None: ...
    def said(self, text: str) -> None: ...
    def reply(self, text: str, status: str) -> None: ...
    def push(self, push: Push) -> None: ...
    def line(self, text: str) -> None: ...


class _Plain:
    """Plain text, for pipes, files and tests."""

    def __init__(self, out: TextIO, *, echo: bool) -> None:
        self._out = out
        self._echo = echo

    def _write(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def banner(self, lines: list[str]) -> None:
        self._write("\n".join(lines) + "\n")

    def said(self, text: str) -> None:
        if self._echo:  # input that was not typed on a terminal: show what was sent
            self._write("> " + text.replace("\n", "\n> "))

    def reply(self, text: str, status: str) -> None:
        self._write(text)

    def push(self, push: Push) -> None:
        self._write(push_text(push))

    def line(self, text: str) -> None:
        self._write(text)


class _Rich:
    """Colours and a framed banner on a terminal."""

    def __init__(self, out: TextIO, *, echo: bool) -> None:
        from rich.console import Console  # noqa: PLC0415 - only on a terminal

        self._console = Console(file=out, highlight=False, soft_wrap=True)
        self._echo = echo

    def banner(self, lines: list[str]) -> None:
        from rich.panel import Panel  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        self._console.print(Panel(Text("\n".join(lines)), title="edubot 对话模式", expand=False))

    def said(self, text: str) -> None:
        if self._echo:
            self._console.print("> " + text.replace("\n", "\n> "), style="bold", markup=False)

    def reply(self, text: str, status: str) -> None:
        style = {"refused": "yellow", "error": "red"}.get(status, "green")
        self._console.print(text, style=style, markup=False)

    def push(self, push: Push) -> None:
        self._console.print(push_text(push), style="cyan", markup=False)

    def line(self, text: str) -> None:
        self._console.print(text, style="dim", markup=False)

    def input(self, prompt: str) -> str:
        return self._console.input(prompt)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# ── The session ──────────────────────────────────────────────────────────────────────────


def banner_lines(settings: Settings, person: PersonConfig, speaker: Speaker) -> list[str]:
    """Who you are, what you do, where the data is, and how to use the terminal."""
    roles = "、".join(ROLE_NAMES.get(r, r) for r in person.roles) or "无角色"
    unit = f" · {person.unit}" if person.unit else ""
    lines = [
        f"您是 {person.name}（{roles}）{unit}，"
        f"以{PLATFORM_NAMES[speaker.platform]}账号 {speaker.user_id} 私聊机器人。",
    ]
    lines.extend(duties(settings, person))
    database = make_url(settings.database.url).render_as_string(hide_password=True)
    lines += [
        f"数据库：{database}",
        "发送“帮助”查看可用命令；行末加 \\ 可接着写下一行（一次评多位）；“退出”结束。",
        "推送只在这里显示，不会发出：它们留在发件箱中，由 edubot serve 发送。",
    ]
    return lines


def run_chat(
    settings: Settings,
    person: str,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    clock: Clock | None = None,
) -> int:
    """Talk to the bot as ``person`` until EOF or 退出. 0 when done, 2 for an unknown person."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    interactive = _isatty(stdin)
    screen: _Screen
    rich_screen: _Rich | None = None
    if _isatty(stdout):
        rich_screen = _Rich(stdout, echo=not interactive)
        screen = rich_screen
    else:
        screen = _Plain(stdout, echo=not interactive)

    who = find_person(settings, person)
    if who is None:
        names = "、".join(p.name for p in settings.people) or "（无）"
        screen.line(f"配置中没有“{person}”。可选的人：{names}")
        return 2
    speaker = identity(who)
    if speaker is None:
        screen.line(f"{who.name} 没有配置 wecom_userid 或 dingtalk_userid，机器人认不出他/她。")
        return 2

    if interactive and stdin is sys.stdin:
        ask = _input_reader(rich_screen.input if rich_screen is not None else input)
    else:
        ask = _line_reader(stdin)

    services = build_services(settings, clock=clock)
    try:
        screen.banner(banner_lines(settings, who, speaker))
        _converse(services, screen, ask, speaker)
    except KeyboardInterrupt:
        screen.line("")
    finally:
        services.engine.dispose()
    return 0


def _converse(
    services: Services,
    screen: _Screen,
    ask: Ask,
    speaker: Speaker,
) -> None:
    with transaction(services.factory) as session:
        mark = outbox_mark(session)
    for text in messages(ask, f"{speaker.name}> ", "… "):
        screen.said(text)
        outcome = services.dispatcher.process(
            InboundMessage(
                platform=speaker.platform,
                channel=speaker.channel,
                message_id=f"chat-{uuid.uuid4().hex}",
                sender_id=speaker.user_id,
                text=text,
                chat_type="private",
                sent_at=services.clock.now(),
                sender_name=speaker.name,
            )
        )
        screen.reply(outcome.reply.text, outcome.status)
        with transaction(services.factory) as session:
            shown, mark = pushes_since(session, mark, services.settings)
        for push in shown:
            screen.push(push)
        screen.line("")
