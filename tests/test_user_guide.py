"""The user guide's examples replayed against the real bot, so they cannot drift (issue 15,
item 11).

docs/用户指南.md is written on ``config.example.toml``. Every block in it that shows the bot
talking (【发送】 / 【回复】 / 【推送 → …】) is replayed here, in an *act*: a fresh bot on the
example config, a fixed clock, and the state the block describes set up through the bot
itself (the same messages the guide's story sends, ``Say``). The block's message is then
sent as its sender, and the answer, and every push the block shows, must be what the guide
prints. Pushes the scheduler makes (reminders, overdue lists, digests) are planned at the
time the block names and compared the same way.

What the platform adds when it delivers a file push (the file itself in a WeCom group, a
download link elsewhere) is shown in the guide as a line starting ``下载：`` or ``（附件：``
and is not compared: the outbox holds the message, the sender adds the file.

@-mentions, which the platform shows as it likes, are printed as one last line
``@甲 @乙``; a markdown push is printed as the group shows it, without ``###`` and ``**``.

A block that cannot be replayed is marked in the guide with ``<!-- 不重放：why -->`` on the
line before it. Every other block with 【发送】 or 【推送 must be replayed by exactly one
step below, so a new example cannot be added to the guide without being checked.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.planning.venue_reminders import plan_venue_reminders
from bot.scheduler import enqueue_digest_now, run_planners
from handlers.files import FileIntake
from handlers.messages import (
    Attachment,
    Channel,
    InboundMessage,
    OutboundMessage,
    message_of,
    platform_named,
)
from handlers.parsing import _WORDS
from storage.db import transaction
from storage.models import OutboxRow
from tests.test_own_campaign import examples

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "用户指南.md"
EXAMPLE = REPO / "config.example.toml"
TZ = ZoneInfo("Asia/Shanghai")
IDS = count()

_BLOCK = re.compile(r"(?:<!-- 不重放：(?P<why>.+?) -->\n+)?```text\n(?P<body>.*?)\n```", re.S)
_MARKER = re.compile(r"^(?P<targets>(?:【推送 → [^】]+】)+)(?P<rest>.*)$")
_PLATFORM_LINES = ("下载：", "（附件：")
_FILE = re.compile(r"^（文件：(.+)）$")
CHATS = {"ruiquan": "wrRuiquanGroup", "yuhong": "cidYuhongGroup", "jiaoyugu": "wrJiaoyuguGroup"}


@dataclass(frozen=True)
class Shown:
    """One guide block: what is sent, the reply, and the pushes as (target, text)."""

    body: str
    sent: str
    reply: str
    pushes: tuple[tuple[str, str], ...]
    at: str  # the time a push-only block names (``2月12日（周六）18:00``), else ""


def _parse(body: str) -> Shown:
    sent, reply, at = "", "", ""
    pushes: list[tuple[str, str]] = []
    head, *segments = re.split(r"\n(?=【推送 → )", "\n" + body)
    if "【发送】" in head:
        sent, _, reply = head.partition("【回复】")
        sent = sent.replace("\n【发送】", "", 1).strip("\n")
        reply = reply.strip("\n")
    for segment in segments:
        first, _, text = segment.partition("\n")
        marker = _MARKER.match(first)
        assert marker is not None, first
        at = marker.group("rest").strip()
        kept = [line for line in text.split("\n") if not line.startswith(_PLATFORM_LINES)]
        for names in re.findall(r"【推送 → ([^】]+)】", marker.group("targets")):
            pushes += [(name, "\n".join(kept)) for name in names.split("、")]
    return Shown(body, sent, reply, tuple(sorted(pushes)), at)


def guide_blocks() -> tuple[list[Shown], list[str]]:
    """The exchange blocks to replay, and the bodies of those marked 不重放."""
    replay: list[Shown] = []
    skipped: list[str] = []
    for match in _BLOCK.finditer(GUIDE.read_text(encoding="utf-8")):
        body = match.group("body")
        if "【发送】" not in body and "【推送 → " not in body:
            continue  # a shell command or a file's contents, not the bot talking
        if match.group("why"):
            skipped.append(body)
        else:
            replay.append(_parse(body))
    return replay, skipped


# --------------------------------------------------------------------------- the acts


@dataclass(frozen=True)
class Say:
    """A message of the story that sets the state up; it must be accepted."""

    person: str
    text: str
    chat: str = ""


@dataclass(frozen=True)
class Block:
    """The guide block containing ``find``, sent by ``person`` (in ``chat``'s group)."""

    find: str
    person: str
    chat: str = ""


@dataclass(frozen=True)
class Planned:
    """A push-only block: the scheduler's pushes (``planner``) at the block's time, or the
    pushes that ``cause`` queues."""

    find: str
    planner: str = ""
    cause: Say | None = None


@dataclass(frozen=True)
class At:
    """Move the clock to ``when`` (the campaign's time)."""

    when: datetime


def at(month: int, day: int, hour: int, minute: int = 0) -> At:
    return At(datetime(2022, month, day, hour, minute, tzinfo=TZ))


Step = Say | Block | Planned | At

FRESH: list[Step] = [
    at(2, 13, 8, 30),
    Block("申毅，您可以使用", "申毅"),
    Block("（zhangsan）不在本次活动名单", "zhangsan"),
    Block("【发送】你好", "申毅"),
    Block("18 27 17 20 9", "申毅"),
    Block("【发送】评分 实验 101", "党攀峰"),
    Block("【发送】评分 实验 19 23 18 22\n", "党攀峰"),
    Block("【发送】评分 城关 86", "申毅"),
    Block("【发送】评分 共同体 86", "申毅"),
    Block("李学斌，您不是任何会场的评委", "李学斌"),
    Block("【发送】评分\n【回复】请按评分表顺序", "申毅"),
    Block("【发送】更正 前进路 88", "党攀峰"),
    Block("李学斌，您可以使用", "李学斌"),
    Block("【发送】导出\n【回复】“导出”只有", "申毅"),
    Block("瑞泉中学校长，您可以使用", "瑞泉中学校长"),
    Block("【发送】提交 书面报告\n【回复】请附上", "瑞泉中学校长"),
    Block("（文件：报告.docx）", "瑞泉中学校长"),
    Block("王局长，您可以使用", "王局长"),
    Block("“未交”名单只向", "申毅"),
    Block("【回复】请写明会场，例如：导出", "教育股"),
]
"""Blocks that hold on the forum's morning before anyone has scored."""

FORUM_DAY: list[Step] = [
    at(2, 13, 8, 30),
    # 瑞泉中学会场: 申毅 and 梁飞 score everyone, the host looks, then 张伟利.
    Block("【发送】评分 瑞泉中学 18 22 17 20 9", "申毅"),
    Block("评分 2号 表现9 目标19", "申毅"),
    Block("评分 尚德中学 工作目标18", "申毅"),
    Block("韩马 17 20 16 20 8", "申毅"),
    Block("您已全部评完", "申毅"),
    Block("【发送】评分 瑞泉中学共同体 90", "梁飞"),
    Block("评分 杜桥中学 八十八分", "梁飞"),
    Block("评分 尚德 18.5", "梁飞"),
    Block("评分 韩马　１７", "梁飞"),
    Block("评分 瑞泉中学会场 育红初中共同体", "梁飞"),
    Block("已评 10/15", "李学斌"),
    Say("张伟利", "评分 1号 87"),
    Say("张伟利", "评分 杜桥 19 23 18 20 9"),
    Block("【发送】评分 杜桥 19 23 18 18 9", "张伟利"),
    Block("【发送】更正 杜桥 19 23 18 18 9", "张伟利"),
    Block("【发送】评分 尚德 70", "张伟利"),
    Block("@机器人 排名", "李学斌", "ruiquan"),
    Block("评分 韩马 82", "张伟利"),
    Block("以下评分与其他评委相差过大", "李学斌"),
    Block("【发送】确认 尚德", "张伟利"),
    Block("【发送】排名\n【回复】\n瑞泉中学会场 成绩", "李学斌"),
    # 育红初中会场 meanwhile: 党攀峰 scores everyone, 樊文英 three.
    Block("评分 1号 十八", "党攀峰"),
    Block("评分 前进路 18，22", "党攀峰"),
    Block("评分 陇海 总分86", "党攀峰"),
    Block("打分 南京路", "党攀峰"),
    Block("@机器人 评分 实验初中共同体", "樊文英", "yuhong"),
    Say("樊文英", "评分 前进路 18.3 22 17 20 9"),
    Block("陇海 18 22 17 20 9\n南京路", "樊文英"),
    Block("【发送】成绩", "郭锋"),
    Block("育红初中会场还有评分未完成", "郭锋"),
    # 11:30 the host publishes, exports, and withdraws the result.
    at(2, 13, 11, 30),
    Block("已公布并锁定瑞泉中学会场成绩", "李学斌"),
    Block("【发送】更正 尚德 86", "张伟利"),
    Block("【推送 → 李学斌】", "李学斌"),
    Block("【发送】导出 瑞泉中学会场", "李学斌"),
    Block("【发送】@机器人 导出", "李学斌", "ruiquan"),
    Block("【发送】进度\n【回复】\n瑞泉中学会场：已评 15/15", "王局长"),
    Block("【发送】排名 瑞泉中学会场", "王局长"),
    Block("【发送】撤销公布", "李学斌"),
]
"""The forum's day, in the order the guide's numbers tell it."""

OUTLIER_LATER: list[Step] = [
    at(2, 13, 8, 30),
    Say("申毅", "评分 尚德 88"),
    Say("张伟利", "评分 尚德 70"),
    Planned("【推送 → 张伟利】", cause=Say("梁飞", "评分 尚德 89")),
]
"""A score that becomes an outlier through another judge's later score."""

REPORTS: list[Step] = [
    at(2, 4, 9, 0),
    Block("瑞泉中学校长的待办", "瑞泉中学校长"),
    Block("提交 报告 https://pan.example.cn/s/rq-report", "瑞泉中学校长"),
    Block("您目前没有待办事项", "瑞泉中学校长"),
    Block("【发送】提交 总结 https://x", "瑞泉中学校长"),
    Block("【发送】未交 书面报告", "王局长"),
    Block("【发送】未交\n【回复】\n“书面报告”", "王局长"),
    at(2, 7, 16, 0),
    Planned("【交材料提醒】书面报告", planner="deadlines"),
    at(2, 7, 18, 0),
    Planned("【逾期未交】书面报告", planner="deadlines"),
    at(2, 8, 9, 0),
    Block("s/dq-report", "杜桥中学校长"),
    Say("杜桥中学校长", "提交 书面报告 https://pan.example.cn/s/dq2"),
    at(2, 11, 17, 0),
    Planned("周汇报（2022-W06）", planner="weekly"),
    at(2, 12, 18, 0),
    Planned("【会场提醒】学校管理论坛·瑞泉中学会场明天开始", planner="venues"),
    at(2, 13, 8, 30),
    Block("s/dq3", "杜桥中学校长"),
]
"""The report deadline, from the principals' side and the scheduler's."""

SETUP: list[Step] = [
    at(2, 10, 9, 0),
    Block("【发送】绑定 13800000005", "guofeng"),
    Block("【发送】绑定 党攀峰", "dangpanfeng"),
    Block("【发送】同意 党攀峰", "教育股"),
    Block("【发送】绑定 尚德中学 张伟", "zhangwei"),
    Block("【发送】绑定 申毅", "xiaowang"),
    Block("绑定群 教育股工作群", "教育股", "jiaoyugu"),
    at(2, 13, 7, 30),
    Block("梁飞 → 王强", "教育股"),
    Block("梁飞 → 韩晓斌", "教育股"),
    Block("【发送】加选手", "教育股"),
    Block("【发送】改时间", "教育股"),
]
"""The organizer's chapter: people and groups bind themselves, then the day-of changes."""

PERIODS: list[Step] = [
    At(datetime(2022, 9, 13, 9, 0, tzinfo=TZ)),  # the autumn term's week 3
    Say("杜桥中学校长", "提交 书面报告 https://pan.example.cn/s/dq-report"),
    Block("· 交材料 周报（第1周）", "杜桥中学校长"),
    Block("【发送】提交 周报 https://pan.example.cn/s/dq-w1", "杜桥中学校长"),
    Block("【发送】提交 周报 第3周", "杜桥中学校长"),
    Block("【发送】提交 督导自查 办学理念 达标", "尚德中学校长"),
    Block("【发送】提交 督导自查 办学理念 良好", "尚德中学校长"),
    Block("【发送】未交 周报\n【回复】\n“周报（第3周）”", "王局长"),
    Block("【发送】未交 周报 第2周", "王局长"),
    Block("【发送】已交 周报 第1周", "教育股"),
    Block("【发送】退回 杜桥中学 周报 第1周", "教育股"),
    Block("【发送】通过 杜桥中学 周报 第3周", "教育股"),
    Block("【发送】免交 尚德中学 周报 第2周", "教育股"),
    Block("【发送】延期 尚德中学 周报 第3周", "教育股"),
    Block("【发送】催交 周报", "教育股"),
    Block("【发送】未交 周报\n【回复】\n您负责的单位", "瑞泉中学校长"),
    Block("材料提交（您负责的单位", "瑞泉中学校长"),
]
"""A weekly report in the autumn term: periods, and what organizers do with submissions."""

ACTS = {
    "fresh": FRESH,
    "forum-day": FORUM_DAY,
    "outlier-later": OUTLIER_LATER,
    "reports": REPORTS,
    "setup": SETUP,
    "periods": PERIODS,
}


# --------------------------------------------------------------------------- replaying


@pytest.fixture
def guide_bot(tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{tmp_path / 'guide.db'}"}
    data["server"] = {**data.get("server", {}), "data_dir": str(tmp_path / "data")}
    env = {"EDUBOT_LINK_SECRET": ""}
    # Files people send come from the platform; here every file holds 1 KB.
    intake = FileIntake(lambda _attachment: b"0" * 1024)
    files: dict[Channel, FileIntake] = {"wecom_app": intake, "dingtalk": intake}
    services = build_services(settings_from_mapping(data, env=env), clock=clock, files=files)
    yield services
    services.engine.dispose()


def _message(services: Services, name: str, text: str, chat: str) -> InboundMessage:
    """``text`` from ``name`` (someone not in the list: a WeCom account of that id),
    privately or in the group ``chat``, on the platform that person or group is on."""
    person = next((p for p in services.settings.people if p.name == name), None)
    group = next((g for g in services.settings.groups if g.key == chat), None)
    if group is not None:
        platform = platform_named(group.platform)
    else:
        platform = "wecom" if person is None or person.wecom_userid else "dingtalk"
    sender = name
    if person is not None:
        sender = person.wecom_userid if platform == "wecom" else person.dingtalk_userid
    channel: Channel = "dingtalk" if platform == "dingtalk" else "wecom_app"
    if chat and platform == "wecom":
        channel = "wecom_robot"
    sent_file = _FILE.match(text)  # 【发送】（文件：报告.docx）: a file sent without words
    return InboundMessage(
        platform,
        channel,
        f"guide-{next(IDS)}",
        sender,
        "" if sent_file else text,
        "group" if chat else "private",
        chat_id=CHATS.get(chat, ""),
        attachment=Attachment("file", "media-1", sent_file.group(1)) if sent_file else None,
    )


def _pushes_since(
    services: Services, last: int, due: datetime | None = None
) -> tuple[int, list[tuple[str, str]]]:
    """The newest outbox id, and the pushes queued after ``last`` (or, with ``due``, every
    push due then: the scheduler plans ahead) as (whom, text)."""
    names = {g.key: g.name for g in services.settings.groups}
    for p in services.settings.people:
        names |= {uid: p.name for uid in (p.wecom_userid, p.dingtalk_userid) if uid}
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.id > last)).all()
        if due is not None:
            rows = session.scalars(select(OutboxRow)).all()
            rows = [r for r in rows if r.due_at.replace(tzinfo=UTC) == due.astimezone(UTC)]
        newest = session.scalar(select(func.max(OutboxRow.id))) or 0
        found = [(names.get(r.target, r.target), _shown(message_of(r.payload))) for r in rows]
    return newest, sorted(found)


def _shown(message: OutboundMessage) -> str:
    """A push as the guide prints it: its text as the group shows it (a markdown message
    without its ``###`` and ``**`` marks), then its @-mentions on a line of their own; a
    picture as ``（图片）`` and what it shows."""
    if message.image_path:
        return f"（图片）{message.text}"
    text = message.text
    if message.markdown:
        text = re.sub(r"^#+ ", "", text, flags=re.M).replace("**", "")
    mentions = " ".join(f"@{m.name}" for m in message.mentions)
    return f"{text}\n{mentions}" if mentions else text


def _plan(services: Services, planner: str, now: datetime) -> None:
    if planner == "deadlines":
        run_planners(services.factory, services.settings, now)
    elif planner == "venues":
        with transaction(services.factory) as session:
            plan_venue_reminders(session, services.settings, now)
    else:
        enqueue_digest_now(services.factory, services.settings, planner, now)


def _find(blocks: list[Shown], find: str) -> Shown:
    hits = [b for b in blocks if find in b.body]
    assert len(hits) == 1, (find, len(hits))
    return hits[0]


def _say(services: Services, say: Say) -> str:
    outcome = services.dispatcher.process(_message(services, say.person, say.text, say.chat))
    assert outcome.status == "ok", (say, outcome.reply.text)
    return outcome.reply.text


def replay(services: Services, clock: FakeClock, steps: list[Step], blocks: list[Shown]) -> None:
    last, _ = _pushes_since(services, 0)
    for step in steps:
        if isinstance(step, At):
            clock.set(step.when)
        elif isinstance(step, Say):
            _say(services, step)
        elif isinstance(step, Block):
            shown = _find(blocks, step.find)
            message = _message(services, step.person, shown.sent, step.chat)
            answer = services.dispatcher.process(message).reply.text
            assert answer == shown.reply, step
            last, pushed = _pushes_since(services, last)
            if shown.pushes:
                assert pushed == list(shown.pushes), step
        else:
            shown = _find(blocks, step.find)
            if step.cause is not None:
                _say(services, step.cause)
                last, pushed = _pushes_since(services, last)
            else:
                _plan(services, step.planner, clock.now())
                last, pushed = _pushes_since(services, last, due=clock.now())
                # The guide shows the scheduler's pushes to the groups it names.
                pushed = [p for p in pushed if p[0] in {whom for whom, _ in shown.pushes}]
            assert pushed == list(shown.pushes), step


@pytest.mark.parametrize("act", ACTS)
def test_the_guide_replays_against_the_bot(guide_bot: Services, clock: FakeClock, act: str) -> None:
    blocks, _ = guide_blocks()
    replay(guide_bot, clock, ACTS[act], blocks)


def test_every_exchange_in_the_guide_is_replayed_or_marked() -> None:
    blocks, skipped = guide_blocks()
    finds = [s.find for steps in ACTS.values() for s in steps if isinstance(s, Block | Planned)]
    claimed = [b.body for f in finds for b in blocks if f in b.body]
    assert len(claimed) == len(finds)  # each step names exactly one block ...
    assert sorted(claimed) == sorted(b.body for b in blocks)  # ... and each block one step
    assert len(blocks) >= 60
    assert all(body for body in skipped)


def test_the_parser_reads_a_block_with_pushes() -> None:
    shown = _parse(
        "【发送】公布\n【回复】\n好\n【推送 → 甲群】【推送 → 乙群】\n结果\n下载：……（链接）"
    )
    assert (shown.sent, shown.reply) == ("公布", "好")
    assert shown.pushes == (("乙群", "结果"), ("甲群", "结果"))


def test_every_example_a_help_in_the_guide_shows_is_accepted(guide_bot: Services) -> None:
    """帮助 lists only what the person may use: each example it shows, sent back in order
    on the forum's morning, is accepted (公布 / 撤销公布 wait for a complete venue)."""
    blocks, _ = guide_blocks()
    helps = [b for b in blocks if b.sent == "帮助"]
    assert len(helps) >= 4
    for shown in helps:
        person = shown.reply.split("，", 1)[0]
        for example in examples(shown.reply):
            if example.startswith(("公布", "撤销公布")):
                continue
            message = _message(guide_bot, person, example, "")
            outcome = guide_bot.dispatcher.process(message)
            assert outcome.status == "ok", (person, example, outcome.reply.text)


def test_the_guides_alias_table_is_what_the_parser_reads() -> None:
    """Each row of 常用命令的别名 lists every other word the parser reads as that command."""
    text = GUIDE.read_text(encoding="utf-8")
    table = text[text.index("### 常用命令的别名") :].split("\n\n")[1]
    rows = [line.strip("|").split("|") for line in table.splitlines()[2:]]
    assert len(rows) >= 8
    for command, aliases in rows:
        same = {w for w, kind in _WORDS.items() if kind == _WORDS[command.strip()]}
        assert set(aliases.strip().split("、")) == same - {command.strip()}, command
