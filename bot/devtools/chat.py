"""``edubot chat --config edubot.toml --as 申毅``: talk to the bot in the terminal.

The terminal stands in for one configured person's private chat with the bot. Each message
goes through the same dispatcher, handlers, database and outbox as one from WeCom or
DingTalk. ``--over`` picks the wire (``bot.devtools.chat_wire``): ``stream`` (DingTalk
Stream mode) and ``websocket`` (the WeCom robot's long connection) send it through the
platform emulator to the service's own connection, ``http`` through its callback endpoint,
``direct`` straight to the dispatcher; ``auto`` (the default) is the long connection the
config uses for the speaker's platform, else ``direct``. The emulator runs in this process;
nothing reaches the real platforms. After each answer the pushes that message caused (new
outbox rows for groups and people) are shown. Chat sends no pushes: they stay pending in the
outbox, and a running ``edubot serve`` on the same database sends them.

A line ending with ``\\`` continues on the next one, so a batch can be typed as
``评分\\`` ⏎ ``韩马 19 23 18 22 9``. ``退出`` / ``exit`` or end of input ends the session.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TextIO

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import PersonConfig, Settings
from bot.config.base import squeeze
from bot.devtools.chat_wire import Line, Over, Speaker, open_line, platform_for, resolve
from handlers.context import local_time
from handlers.messages import Platform, message_of
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


def identity(person: PersonConfig, platform: Platform | None = None) -> Speaker | None:
    """The platform this person talks on: ``platform`` if given (the ``--over`` mode needs
    it), else WeCom if they have a userid, else DingTalk."""
    if person.wecom_userid and platform in (None, "wecom"):
        return Speaker(person.name, "wecom", person.wecom_userid)
    if person.dingtalk_userid and platform in (None, "dingtalk"):
        # No sessionWebhook: chat sends no pushes, so no session reply is queued.
        return Speaker(person.name, "dingtalk", person.dingtalk_userid)
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
                f"（图片）{message.text}" if message.image_path else message.text,
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


def banner_lines(
    settings: Settings, person: PersonConfig, speaker: Speaker, where: str = ""
) -> list[str]:
    """Who you are, what you do, where the data is, the wire, and how to use the terminal."""
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
        *([f"消息经：{where}"] if where else []),
        "发送“帮助”查看可用命令；行末加 \\ 可接着写下一行（一次评多位）；“退出”结束。",
        "推送只在这里显示，不会发出：它们留在发件箱中，由 edubot serve 发送。",
    ]
    return lines


def run_chat(
    settings: Settings,
    person: str,
    *,
    over: Over = "auto",
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    clock: Clock | None = None,
) -> int:
    """Talk to the bot as ``person`` until EOF or 退出, each message carried ``over`` a wire
    (``bot.devtools.chat_wire``). 0 when done, 2 for a person the bot cannot hear that way."""
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
        screen.line(f"配置中没有“{person}”。可选的人：{names}。请用 --as 写其中一人的姓名。")
        return 2
    speaker = identity(who, platform_for(over))
    if speaker is None:
        need = {"stream": "dingtalk_userid（经钉钉 Stream 对话）", "websocket": "wecom_userid"}
        screen.line(
            f"{who.name} 没有配置 {need.get(over, 'wecom_userid 或 dingtalk_userid')}，"
            "机器人认不出他/她。"
            "请在配置文件的 [[people]] 中为其写上这一项。"
        )
        return 2

    if interactive and stdin is sys.stdin:
        ask = _input_reader(rich_screen.input if rich_screen is not None else input)
    else:
        ask = _line_reader(stdin)

    wire = resolve(over, settings, speaker)
    try:
        with open_line(settings, speaker, wire, clock=clock) as line:
            screen.banner(banner_lines(settings, who, speaker, line.where))
            _converse(line, screen, ask, speaker)
    except KeyboardInterrupt:
        screen.line("")
    return 0


def _converse(line: Line, screen: _Screen, ask: Ask, speaker: Speaker) -> None:
    factory, settings = line.services.factory, line.services.settings
    with transaction(factory) as session:
        mark = outbox_mark(session)
    for text in messages(ask, f"{speaker.name}> ", "… "):
        screen.said(text)
        said = line.send(text)
        screen.reply(said.text, said.status)
        with transaction(factory) as session:
            shown, mark = pushes_since(session, mark, settings)
        for push in shown:
            screen.push(push)
        screen.line("")
