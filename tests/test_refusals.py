"""Every refusal is true for the person who reads it and says what to do instead (issue 15,
item 4).

Each command is sent by each kind of person of a campaign unlike the sample (3-item rubric,
two venues sharing a judge, a deadline with a long name) in each state a campaign goes
through: without venues, without anything, before scoring, half scored, complete with an
outlying score, published, and published then withdrawn (撤销公布). Every answer the bot
marks as a refusal must

(a) hold no name or number from the sample campaign,
(b) not be contradicted by the reader's role (an organizer is never told only organizers
    may do it, nor to ask the organizer; a judge is never told they judge nowhere), and
(c) name the next step: a command to send (发送 + a command word), or 请… / 联系….
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.dispatcher import Outcome
from handlers.messages import Attachment, InboundMessage
from handlers.parsing import _WORDS
from tests.test_own_campaign import CHATS, LONG_TITLE, PEOPLE, SAMPLE, own_campaign

IDS = count()
NOBODY = "钱老师"  # in the list, with no role at all
UIDS = {name: uid for name, (uid, _, _) in PEOPLE.items()} | {NOBODY: "qianlaoshi"}
STRANGER = "not-in-the-list"

STATES = ["empty", "no_venues", "fresh", "partial", "outlier", "published", "withdrawn"]

COMMANDS = [
    "评分",
    "评分 周晓燕",
    "评分 周晓燕 32 32",
    "评分 周晓燕 41 32 16",
    "评分 周晓燕 32 好 16",
    "评分 谁也不是 32 32 16",
    "评分 冯志远 32 32 16",
    "评分 周晓燕 30 30 16",
    "更正 吴建华 30 30 10",
    "确认",
    "确认 周晓燕",
    "确认 郑丽娟",
    "进度",
    "进度 东区",
    "进度 北区",
    "排名",
    "排名 东区",
    "排名 西区",
    "排名 北区",
    "导出",
    "导出 东区",
    "导出 西区 csv",
    "导出 北区",
    "公布 西区",
    "撤销公布 西区",
    "提交",
    f"提交 {LONG_TITLE}",
    "提交 不存在的材料 https://x",
    "未交",
    "未交 不存在的材料",
    "我的",
    "帮助",
    "你好",
    "公布",
    "撤销公布",
    "公布 东区",
    "已交",
    "已交 不存在的材料",
    "催交",
    "退回",
    "通过",
    "免交",
    "延期",
    "退回 城东小学 自查报告",
    "通过 城东小学 自查报告",
    "免交 谁也不是 自查报告",
    "延期 城东小学 自查报告 好",
    "绑定",
    "绑定群",
]
IN_GROUP = ["评分 周晓燕 32 32 16", "排名", "导出", "公布", "确认", "进度"]

COMMAND_WORDS = "|".join(map(re.escape, sorted(_WORDS, key=len, reverse=True)))
INSTRUCTION = re.compile(f"请|联系|发送[：“]?(?:{COMMAND_WORDS})")
"""请…, 联系…, or 发送 naming a command: echoing the refused command word is no next step."""


def _campaign(db_url: str, data_dir: Path, state: str) -> dict[str, Any]:
    data = own_campaign(db_url, data_dir)
    data["people"].append({"name": NOBODY, "wecom_userid": UIDS[NOBODY], "roles": []})
    # A venue's host need not carry the "host" role: hosting the venue makes them one.
    next(p for p in data["people"] if p["name"] == "孙丽")["roles"] = []
    if state in ("empty", "no_venues"):
        data["venues"] = []
    if state == "empty":
        data["deadlines"] = []
    return data


def _send(
    services: Services, sender: str, text: str, chat: str = "", file: Attachment | None = None
) -> Outcome:
    return services.dispatcher.process(
        InboundMessage(
            platform="wecom",
            channel="wecom_robot" if chat else "wecom_app",
            message_id=f"refusal-{next(IDS)}",
            sender_id=UIDS.get(sender, sender),
            text=text,
            chat_type="group" if chat else "private",
            chat_id=CHATS.get(chat, ""),
            attachment=file,
        )
    )


def _ok(services: Services, sender: str, text: str) -> None:
    outcome = _send(services, sender, text)
    assert outcome.status == "ok", (sender, text, outcome.reply.text)


def _set_up(services: Services, state: str) -> None:
    """Bring the campaign into ``state`` through the bot itself."""
    if state in ("empty", "no_venues", "fresh"):
        return
    _ok(services, "王芳", "评分 周晓燕 32 32 16")
    if state == "partial":
        return
    _ok(services, "王芳", "评分\n2号 30 30 15\n3号 28 28 14")
    _ok(services, "李强", "评分 东区 周晓燕 32 32 16\n东区 吴建华 30 30 15\n东区 郑丽娟 28 28 14")
    _ok(services, "陈静", "评分\n1号 32 32 16\n2号 30 30 15\n3号 10 10 5")  # 25: an outlier
    if state in ("published", "withdrawn"):
        _ok(services, "陈静", "确认 郑丽娟")
        _ok(services, "赵磊", "公布")
    if state == "withdrawn":
        _ok(services, "赵磊", "撤销公布")


@pytest.fixture(params=STATES)
def campaign(
    request: pytest.FixtureRequest, sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[str, Services]]:
    clock.set(clock.now().replace(year=2026, month=4, day=9))
    state = str(request.param)
    settings = settings_from_mapping(_campaign(sqlite_url, tmp_path / "data", state))
    services = build_services(settings, clock=clock)
    _set_up(services, state)
    yield state, services
    services.engine.dispose()


def _roles(services: Services, name: str) -> set[str]:
    """The person's roles, plus what the campaign makes them (host of a venue, judge)."""
    if name not in UIDS:
        return set()
    roles = set(services.settings.person(name).roles)
    for venue in services.settings.venues:
        if venue.host == name:
            roles.add("host")
        if name in venue.judges:
            roles.add("judges a venue")
    return roles


ROLE_WORDS = {"主持人": {"host"}, "领导": {"leader"}, "组织者": {"organizer", "admin"}}


def contradictions(text: str, name: str, roles: set[str]) -> list[str]:
    """What ``text`` says about its reader that their role says is false."""
    found: list[str] = []
    for who in re.findall(r"只有(.+?)(?:可以|能)|只向(.+?)开放", text):
        clause = "".join(who)
        named = re.search(r"主持人（(.+?)）", clause)
        for word, kinds in ROLE_WORDS.items():
            if word not in clause or not roles & kinds:
                continue
            if word == "主持人" and named and named.group(1) != name:
                continue  # another venue's host, by name: true for this reader
            found.append(f"told only {word} may, but is {sorted(roles & kinds)}")
    if roles & {"organizer", "admin"} and re.search("联系(活动)?组织者", text):
        found.append("an organizer told to ask the organizer")
    if "judges a venue" in roles and "您不是任何会场的评委" in text:
        found.append("a judge told they judge nowhere")
    if "judges a venue" not in roles and re.search("例如：(评分|更正)", text):
        found.append("someone who judges nowhere shown how to score")
    if name in UIDS and "不在本次活动名单" in text:
        found.append("a listed person told they are not listed")
    return found


def check_refusal(services: Services, name: str, text: str, answer: str) -> None:
    where = (name, text, answer)
    assert not [w for w in SAMPLE if w in answer], where
    assert not contradictions(answer, name, _roles(services, name)), where
    assert INSTRUCTION.search(answer), where


PERSONS = [*PEOPLE, NOBODY, STRANGER]


@pytest.mark.parametrize("name", PERSONS)
def test_every_refusal_is_true_for_its_reader_and_names_the_next_step(
    campaign: tuple[str, Services], name: str
) -> None:
    state, services = campaign
    refused = 0
    for text in COMMANDS:
        outcome = _send(services, name, text)
        if outcome.status != "ok":
            refused += 1
            check_refusal(services, name, text, outcome.reply.text)
    for text in IN_GROUP:
        outcome = _send(services, name, text, "dongqu")
        if outcome.status != "ok":
            refused += 1
            check_refusal(services, name, text, outcome.reply.text)
    # A file without a word: only a submitter's is taken (and this test's cannot be fetched).
    outcome = _send(services, name, "", file=Attachment("file", "media-1", "自查报告.docx"))
    assert outcome.status != "ok"
    check_refusal(services, name, "(a file)", outcome.reply.text)
    assert refused, (state, name)  # the matrix reaches refusals for everyone


def test_the_checks_catch_what_issue_15_saw() -> None:
    organizer = {"organizer"}
    assert contradictions("成绩汇总表只有会场主持人、领导和组织者可以导出", "教研室", organizer)
    assert contradictions("如有疑问请联系活动组织者。", "教研室", organizer)
    assert not contradictions(
        "只有东区实验小学会场的主持人（赵磊）或组织者可以公布成绩。", "孙丽", {"host"}
    )
    assert not INSTRUCTION.search("您没有可排名的会场。")


def test_an_organizer_without_venues_is_told_in_help_where_they_come_from(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = settings_from_mapping(_campaign(sqlite_url, tmp_path / "data", "empty"))
    services = build_services(settings, clock=clock)
    try:
        shown = _send(services, "教研室", "帮助").reply.text
        leader = _send(services, "马局长", "帮助").reply.text
    finally:
        services.engine.dispose()
    assert "本活动还没有会场。会场在配置文件的 [[venues]] 中设置" in shown
    assert "还没有会场" not in leader  # only organizers can do something about it


def test_the_examples_of_the_review_commands_are_the_campaigns_own_and_accepted(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """已交, 催交, 退回, 免交 and 延期 sent incomplete show an example built from this
    campaign's deadline and submitter; each, sent back as shown, is accepted."""
    clock.set(clock.now().replace(year=2026, month=4, day=9))
    settings = settings_from_mapping(_campaign(sqlite_url, tmp_path / "data", "fresh"))
    services = build_services(settings, clock=clock)
    try:
        for text in ("催交", "已交", "退回 城东小学 自查", "延期", "延期 城东小学 自查 好", "免交"):
            if text.startswith("退回"):  # a reason is asked for once there is a version
                _ok(services, "何校长", f"提交 {LONG_TITLE} https://pan.example.cn/s/1")
            refused = _send(services, "教研室", text)
            assert refused.status != "ok", text
            check_refusal(services, "教研室", text, refused.reply.text)
            example = refused.reply.text.split("例如：", 1)[1].split("（", 1)[0]
            assert LONG_TITLE in example or "城东小学" in example, example
            _ok(services, "教研室", example)
    finally:
        services.engine.dispose()
