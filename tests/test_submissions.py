"""提交 / 未交 / 我的 through the dispatcher: one table per command, every refusal.

Each case runs on a fresh database: the earlier steps set the scene, the last message is
the one under test. Refusals must record nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.dispatcher import Outcome
from bot.platforms.media import CHANNELS
from handlers.context import Context
from handlers.errors import BotError
from handlers.files import FileIntake
from handlers.messages import Attachment, InboundMessage, Reply
from handlers.submissions import attachment_handler
from storage.db import transaction
from storage.models import Submission
from storage.people import person_by_platform_id
from tests.conftest import make_settings
from tests.support.campaign import campaign

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 4, 6, 9, 0, tzinfo=TZ)  # Monday; 实施方案 is due Wednesday 17:00
URL = "https://pan.example.cn/s/abc"


def _person(name: str, unit: str, uid: str, roles: tuple[str, ...] = ("principal",)) -> Any:
    ids = {"dingtalk_userid": uid} if uid.startswith("ding-") else {"wecom_userid": uid}
    return {"name": name, "roles": list(roles), "unit": unit, **ids}


SEED = campaign()
PEOPLE = [
    *SEED["people"],  # 陈校长 is 瑞泉中学's principal there
    _person("赵校长", "瑞泉中学", "zhaoxz"),
    _person("孙校长", "杜桥中学", "sunxz"),
    _person("李校长", "杜桥中学", "ding-lixz"),
    _person("吴校长", "尚德中学", "wuxz"),
]
GROUPS = [
    *SEED["groups"],
    {"key": "xiaozhang", "name": "校长群", "platform": "wecom", "webhook": "xz-key"},
]
DEADLINES = [
    {
        "key": "plan",
        "title": "实施方案",
        "aliases": ["方案"],
        "due": "2026-04-08 17:00",
        "submitters": ["瑞泉中学", "杜桥中学", "尚德中学"],
        "group": "xiaozhang",
        "escalate_to": ["leaders"],
    },
    {
        "key": "quality",
        "title": "质量分析报告",
        "due": "2026-10-20 17:00",
        "submitters": ["孙校长", "吴校长", "陈校长"],
        "format_note": "PDF 或 Word",
    },
    {
        "key": "summary",
        "title": "总结报告",
        "due": "2026-12-05 17:00",
        "submitters": ["陈校长"],
    },
]


@dataclass
class Bot:
    services: Services
    clock: FakeClock
    ids: Iterator[int] = field(default_factory=itertools.count)

    def say(self, sender: str, text: str, attachment: Attachment | None = None) -> Outcome:
        ding = sender.startswith("ding-")
        return self.services.dispatcher.process(
            InboundMessage(
                platform="dingtalk" if ding else "wecom",
                channel="dingtalk" if ding else "wecom_app",
                message_id=f"m{next(self.ids)}",
                sender_id=sender,
                text=text,
                chat_type="private",
                attachment=attachment,
            )
        )

    def submissions(self) -> list[Submission]:
        with transaction(self.services.factory) as session:
            return list(session.scalars(select(Submission).order_by(Submission.id)))


@pytest.fixture
def bot(sqlite_url: str, tmp_path: Path, fetcher: FakeFetcher) -> Iterator[Bot]:
    settings = make_settings(
        sqlite_url, tmp_path, people=PEOPLE, groups=GROUPS, deadlines=DEADLINES
    )
    clock = FakeClock(START)
    files = dict.fromkeys(CHANNELS, FileIntake(fetcher, max_bytes=1024))
    services = build_services(settings, clock=clock, files=files)
    yield Bot(services, clock)
    services.engine.dispose()


Step = tuple[str, str]


@dataclass(frozen=True)
class Case:
    steps: tuple[Step, ...]
    expect: tuple[str, ...]
    status: str = "ok"
    recorded: int | None = None
    """Submissions stored after the last step (None: not checked)."""
    at: timedelta = timedelta(0)
    """Where the clock stands (from START) while the steps are sent."""


def run(bot: Bot, case: Case) -> Outcome:
    *before, (sender, text) = case.steps
    bot.clock.set(START + case.at)
    for who, said in before:
        bot.say(who, said)
    outcome = bot.say(sender, text)
    for piece in case.expect:
        assert piece in outcome.reply.text, outcome.reply.text
    assert outcome.status == case.status, outcome.reply.text
    if case.recorded is not None:
        assert len(bot.submissions()) == case.recorded
    return outcome


OPEN_LIST_CHEN = (
    "您待交的材料：\n"
    "1. 实施方案（截止 4月8日（周三）17:00，还剩 2 天 8 小时）\n"
    "2. 质量分析报告（截止 10月20日（周二）17:00，还剩 197 天 8 小时）\n"
    "3. 总结报告（截止 12月5日（周六）17:00，还剩 243 天 8 小时）"
)

SUBMIT_CASES = {
    "link for the unit": Case(
        (("chenxz", f"提交 实施方案 {URL}"),),
        (
            f"已收到陈校长（代瑞泉中学）提交的“实施方案”第 1 版：链接 {URL}",
            "提交时间 4月6日（周一）09:00 · 截止 4月8日（周三）17:00 · 提前 2 天 8 小时",
            "您还有待交：质量分析报告（截止 10月20日（周二）17:00）；总结报告",
        ),
        recorded=1,
    ),
    "alias": Case((("zhaoxz", f"提交 方案 {URL}"),), ("提交的“实施方案”第 1 版",), recorded=1),
    "full-width colons": Case(
        (("sunxz", f"提交：实施方案：{URL}"),), ("孙校长（代杜桥中学）",), recorded=1
    ),
    "unique prefix": Case(
        (("wuxz", "提交 质量分析 见附件说明，已发邮箱"),),
        ("“质量分析报告”第 1 版：内容：见附件说明，已发邮箱",),
        recorded=1,
    ),
    "person entry": Case(
        (("chenxz", f"提交 总结报告 {URL}"),), ("已收到陈校长提交的“总结报告”",), recorded=1
    ),
    "no material, one open duty": Case(
        (("zhaoxz", f"提交 {URL}"),), ("“实施方案”第 1 版",), recorded=1
    ),
    "no material, several open": Case(
        (("chenxz", f"提交 {URL}"),),
        ("请写明材料名。", OPEN_LIST_CHEN),
        status="refused",
        recorded=0,
    ),
    "unknown material lists open deadlines": Case(
        (("chenxz", f"提交 年度计划 {URL}"),),
        ("没有找到材料“年度计划”。", OPEN_LIST_CHEN, "请发送：提交 实施方案 https://…"),
        status="refused",
        recorded=0,
    ),
    "ambiguous material": Case(
        (("chenxz", "提交 报告 见附件"),),
        ("“报告”能对上多项材料：质量分析报告、总结报告。请写全称。",),
        status="refused",
        recorded=0,
    ),
    "empty content and no file": Case(
        (("chenxz", "提交 实施方案"),),
        ("请附上“实施方案”的内容：10 分钟内直接把文件发给我，或发送：提交 实施方案 https://…",),
        status="refused",
        recorded=0,
    ),
    "person who owes nothing": Case(
        (("shenyi", f"提交 实施方案 {URL}"),),
        ("申毅，您目前没有需要提交的材料。",),
        status="refused",
        recorded=0,
    ),
    "not on this deadline's list": Case(
        (("zhaoxz", f"提交 质量分析报告 {URL}"),),
        ("您不在提交名单中：“质量分析报告”。", "1. 实施方案（截止 4月8日（周三）17:00"),
        status="refused",
        recorded=0,
    ),
    "late is accepted and marked": Case(
        (("chenxz", f"提交 实施方案 {URL}"),),
        ("截止 4月8日（周三）17:00 · 逾期 5 小时 20 分钟（已标记为逾期提交）",),
        recorded=1,
        at=timedelta(days=2, hours=13, minutes=20),
    ),
    "versions are kept": Case(
        (("chenxz", f"提交 实施方案 {URL}"), ("chenxz", "提交 实施方案 https://pan.example.cn/v2")),
        ("“实施方案”第 2 版：链接 https://pan.example.cn/v2", "此前的 1 个版本均已保留。"),
        recorded=2,
    ),
    "a colleague's version counts for the same unit": Case(
        (("sunxz", f"提交 实施方案 {URL}"), ("ding-lixz", "提交 实施方案 https://x.cn/2")),
        ("李校长（代杜桥中学）提交的“实施方案”第 2 版",),
        recorded=2,
    ),
    "only open duties are offered after submitting": Case(
        (("sunxz", f"提交 实施方案 {URL}"), ("sunxz", "提交 年度计划 x")),
        ("您待交的材料：\n1. 质量分析报告",),
        status="refused",
        recorded=1,
    ),
}


@pytest.mark.parametrize("case", SUBMIT_CASES.values(), ids=SUBMIT_CASES.keys())
def test_submit(bot: Bot, case: Case) -> None:
    run(bot, case)


def test_submission_rows(bot: Bot) -> None:
    bot.say("chenxz", f"提交 实施方案 {URL}")
    bot.clock.set(START + timedelta(days=3))
    bot.say("zhaoxz", "提交 实施方案 https://pan.example.cn/v2")
    first, second = bot.submissions()
    assert (first.owner, first.version, first.late, first.content) == ("瑞泉中学", 1, False, URL)
    assert (second.owner, second.version, second.late) == ("瑞泉中学", 2, True)
    assert first.source == "wecom:m0"
    assert second.submitted_at == START + timedelta(days=3)


MISSING_CASES = {
    "principal is refused": Case(
        (("chenxz", "未交 实施方案"),),
        ("“未交”名单只向主持人、领导和组织者开放。发送“我的”可查看您自己的待交材料。",),
        status="refused",
    ),
    "judge is refused": Case((("shenyi", "未交"),), ("只向主持人、领导和组织者开放",), "refused"),
    "leader sees missing by unit": Case(
        (("chenxz", f"提交 实施方案 {URL}"), ("wangjz", "未交 实施方案")),
        (
            "“实施方案”（截止 4月8日（周三）17:00，还剩 2 天 8 小时）未交名单：\n"
            "应交 3 · 已交 1 · 逾期交 0 · 未交 2\n杜桥中学\n尚德中学",
        ),
    ),
    "host sees every deadline": Case(
        (("lixuebin", "未交"),),
        (
            "“实施方案”",
            "“质量分析报告”",
            "“总结报告”",
            "应交 1 · 已交 0 · 逾期交 0 · 未交 1\n瑞泉中学：陈校长",
        ),
    ),
    "persons grouped by unit": Case(
        (("jiaoyugu", "未交 质量"),),
        (
            "应交 3 · 已交 0 · 逾期交 0 · 未交 3\n"
            "杜桥中学：孙校长\n尚德中学：吴校长\n瑞泉中学：陈校长",
        ),
    ),
    "late and complete": Case(
        (
            ("chenxz", f"提交 实施方案 {URL}"),
            ("sunxz", f"提交 实施方案 {URL}"),
            ("wuxz", f"提交 实施方案 {URL}"),
            ("wangjz", "未交 方案"),
        ),
        ("“实施方案”（截止 4月8日（周三）17:00，已截止）已全部提交。", "已交 0 · 逾期交 3"),
        at=timedelta(days=3, hours=8),
    ),
    "unknown material": Case(
        (("jiaoyugu", "未交 年度计划"),),
        (
            "没有找到唯一的材料“年度计划”。请写材料名或前几个字，例如：未交 实施方案"
            "（可选：实施方案、质量分析报告、总结报告）",
        ),
        status="refused",
    ),
}


@pytest.mark.parametrize("case", MISSING_CASES.values(), ids=MISSING_CASES.keys())
def test_missing(bot: Bot, case: Case) -> None:
    run(bot, case)


MINE_CASES = {
    "principal with three duties": Case(
        (("chenxz", "我的"),),
        (
            "陈校长的待办：\n"
            "· 交材料 实施方案：截止 4月8日（周三）17:00（还剩 2 天 8 小时，代瑞泉中学提交）\n"
            "· 交材料 质量分析报告：截止 10月20日（周二）17:00（还剩 197 天 8 小时）",
        ),
    ),
    "after the unit submitted": Case(
        (("zhaoxz", f"提交 实施方案 {URL}"), ("chenxz", "我的")),
        ("质量分析报告", "已交材料 1 项。"),
    ),
    "overdue still open": Case(
        (("sunxz", "我的"),),
        ("实施方案：截止 4月8日（周三）17:00（已逾期 1 天，代杜桥中学提交，仍可补交）",),
        at=timedelta(days=3, hours=8),
    ),
    "judge sees sheets to score": Case(
        (("shenyi", "我的"),), ("· 评分 瑞泉中学会场（2022年2月13日（周日）08:00）：还剩 5 位未评",)
    ),
    "host sees the venue": Case(
        (("lixuebin", "我的"),), ("· 主持 瑞泉中学会场：已评 0/15，待公布",)
    ),
    "nothing to do": Case((("wangjz", "我的"),), ("王局长，您目前没有待办事项。",)),
    "everything handed in by a colleague": Case(
        (("sunxz", f"提交 实施方案 {URL}"), ("ding-lixz", "我的")),
        ("李校长，您目前没有待办事项。已交材料 1 项。",),
    ),
}


@pytest.mark.parametrize("case", MINE_CASES.values(), ids=MINE_CASES.keys())
def test_mine(bot: Bot, case: Case) -> None:
    run(bot, case)


# --------------------------------------------------------------------------- files


class FakeFetcher:
    """Serves attachment bytes by ref; anything else is a network failure."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.calls: list[str] = []

    def __call__(self, attachment: Attachment) -> bytes:
        self.calls.append(attachment.ref)
        if attachment.ref not in self.files:
            raise ConnectionError("platform unreachable")
        return self.files[attachment.ref]


DOC = b"PK\x03\x04" + b"x" * 500


@pytest.fixture
def fetcher() -> FakeFetcher:
    """Wired into every ``bot`` (all channels, 1 KB limit) in place of the platforms."""
    return FakeFetcher({"media-doc": DOC, "media-big": b"y" * 2048, "media-png": b"\x89PNGzz"})


def data_dir(bot: Bot) -> Path:
    return Path(bot.services.settings.server.data_dir)


def test_file_with_the_command_is_stored_per_version(bot: Bot, fetcher: FakeFetcher) -> None:
    doc = Attachment("file", "media-doc", "实施方案/终稿.docx")
    first = bot.say("chenxz", "提交 实施方案", doc)
    second = bot.say("zhaoxz", "提交 实施方案", doc)
    # The receipt and the database keep the name as sent; only the name on disk is made safe.
    assert "“实施方案”第 1 版：文件《实施方案/终稿.docx》（504 B）" in first.reply.text
    assert "第 2 版" in second.reply.text
    rows = bot.submissions()
    assert [r.file_name for r in rows] == ["实施方案/终稿.docx"] * 2
    assert [r.file_path for r in rows] == [
        "submissions/plan/瑞泉中学/1-实施方案_终稿.docx",
        "submissions/plan/瑞泉中学/2-实施方案_终稿.docx",
    ]
    assert (data_dir(bot) / rows[1].file_path).read_bytes() == DOC
    assert rows[0].file_size == len(DOC)


def test_a_file_whose_name_is_too_long_for_the_disk_is_stored_under_a_cut_name(
    bot: Bot, fetcher: FakeFetcher
) -> None:
    # 92 CJK characters + .docx is 281 bytes of UTF-8: over ext4's 255-byte name limit.
    sent = "关于" + "瑞泉中学共同体学校管理论坛书面报告" * 5 + "的补充材料.docx"
    assert len(sent) == 92 + len(".docx")
    assert len(sent.encode()) > 255
    first = bot.say("chenxz", "提交 实施方案", Attachment("file", "media-doc", sent))
    again = bot.say("chenxz", "提交 实施方案", Attachment("file", "media-doc", sent))
    assert first.status == again.status == "ok"
    assert f"文件《{sent}》（504 B）" in first.reply.text
    rows = bot.submissions()
    assert [r.file_name for r in rows] == [sent, sent]
    for row in rows:
        on_disk = data_dir(bot) / row.file_path
        assert on_disk.read_bytes() == DOC
        assert on_disk.suffix == ".docx"
        assert len(on_disk.name.encode()) <= 255
        assert sent.startswith(on_disk.name.split("-", 1)[1].removesuffix(".docx"))
        assert str(data_dir(bot)) not in first.reply.text


@pytest.mark.parametrize(
    ("attachment", "expect"),
    [
        pytest.param(
            Attachment("file", "media-big", "大.pdf"),
            "文件过大（2 KB），单个文件上限为 1 KB，未记录。请压缩后重发，或上传网盘后发送",
            id="over-the-limit",
        ),
        pytest.param(Attachment("voice", "media-doc"), "暂不接收语音消息", id="voice"),
        pytest.param(
            Attachment("file", "media-gone", "a.pdf"),
            "未能从平台下载文件，未记录",
            id="fetch-fails",
        ),
    ],
)
def test_file_refusals_record_nothing(
    bot: Bot, fetcher: FakeFetcher, attachment: Attachment, expect: str
) -> None:
    outcome = bot.say("chenxz", "提交 实施方案", attachment)
    assert expect in outcome.reply.text
    assert outcome.status == "refused"
    assert bot.submissions() == []
    assert not (data_dir(bot) / "submissions").exists() or not any(
        p.is_file() for p in (data_dir(bot) / "submissions").rglob("*")
    )


def test_channels_without_a_fetcher_refuse_files(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        sqlite_url, tmp_path, people=PEOPLE, groups=GROUPS, deadlines=DEADLINES
    )
    clock = FakeClock(START)
    bot = Bot(build_services(settings, clock=clock, files={}), clock)
    outcome = bot.say("chenxz", "提交 实施方案", Attachment("file", "media-doc", "a.docx"))
    bot.services.engine.dispose()
    assert outcome.status == "refused"
    assert "暂时无法接收文件" in outcome.reply.text


# --------------------------------------------------------------------------- bare attachments


def attach(bot: Bot, fetcher: FakeFetcher, sender: str, attachment: Attachment) -> Reply | None:
    """What the dispatcher does for a file with no text (parse gives Unknown(""))."""
    handle: Callable[[Context], Reply | None] = attachment_handler(FileIntake(fetcher, 1024))
    with transaction(bot.services.factory) as session:
        person = person_by_platform_id(session, "wecom", sender)
        assert person is not None
        message = InboundMessage(
            "wecom", "wecom_app", "f1", sender, "", "private", attachment=attachment
        )
        ctx = Context(session, person, message, bot.clock.now(), TZ, data_dir=data_dir(bot))
        return handle(ctx)


def test_bare_file_goes_to_the_only_open_deadline(bot: Bot, fetcher: FakeFetcher) -> None:
    reply = attach(bot, fetcher, "zhaoxz", Attachment("image", "media-png"))
    assert reply is not None
    assert "已收到赵校长（代瑞泉中学）提交的“实施方案”第 1 版：文件《图片-f1.png》" in reply.text


def test_bare_file_after_submit_without_content(bot: Bot, fetcher: FakeFetcher) -> None:
    assert bot.say("chenxz", "提交 总结报告").status == "refused"
    bot.clock.advance(timedelta(minutes=5))
    reply = attach(bot, fetcher, "chenxz", Attachment("file", "media-doc", "总结.docx"))
    assert reply is not None
    assert "“总结报告”第 1 版：文件《总结.docx》" in reply.text


def test_bare_file_with_several_open_deadlines_is_refused(bot: Bot, fetcher: FakeFetcher) -> None:
    bot.say("chenxz", "提交 总结报告")
    bot.clock.advance(timedelta(minutes=11))  # the intent has lapsed
    with pytest.raises(BotError, match="无法确定是哪项材料") as refusal:
        attach(bot, fetcher, "chenxz", Attachment("file", "media-doc", "总结.docx"))
    assert "1. 实施方案" in refusal.value.message
    assert bot.submissions() == []


def test_no_attachment_is_not_ours(bot: Bot, fetcher: FakeFetcher) -> None:
    handle = attachment_handler(FileIntake(fetcher))
    with transaction(bot.services.factory) as session:
        person = person_by_platform_id(session, "wecom", "chenxz")
        assert person is not None
        message = InboundMessage("wecom", "wecom_app", "x", "chenxz", "", "private")
        assert handle(Context(session, person, message, START, TZ)) is None


def test_organizer_progress_covers_venues_and_deadlines(bot: Bot) -> None:
    bot.say("chenxz", f"提交 实施方案 {URL}")
    text = bot.say("wangjz", "进度").reply.text
    assert "瑞泉中学会场：已评 0/15（进行中）" in text
    reports = text.split("材料提交：\n", 1)[1]
    assert reports.startswith("实施方案（截止 ")
    assert "应交 3 · 已交 1 · 逾期交 0 · 未交 2" in reports
    # A judge's 进度 stays about their own sheets.
    assert "材料提交" not in bot.say("shenyi", "进度").reply.text
