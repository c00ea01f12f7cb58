"""People and groups bind themselves in chat (issue 19, items 2 and 3).

An unknown WeCom user sends 绑定 with their unit and name, the organizer approves, and the
user's next 评分 is recorded; a mobile that matches binds at once; wrong bindings are
refused with the reason; approved bindings survive a config sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.config_sync import sync_config
from bot.dispatcher import Outcome
from handlers.messages import InboundMessage, Platform
from storage.db import transaction
from storage.models import OutboxRow, ScoreSheet
from storage.setup_models import Binding
from tests.support.campaign import campaign

IDS = count()
SCORE = "评分 瑞泉中学 18 22 17 20 9"
NEWCOMER = "wx-zhangwei"


def bind_campaign(db_url: str, data_dir: Path) -> dict[str, Any]:
    """The test campaign with 张伟 (尚德中学, a judge of 瑞泉中学会场) listed without any
    account, and a group whose chat id nobody has read out of the log yet."""
    data = campaign(db_url)
    data["server"] = {"data_dir": str(data_dir)}
    data["people"].append(
        {"name": "张伟", "unit": "尚德中学", "roles": ["judge"], "mobile": "139-1234-5678"}
    )
    data["venues"][0]["judges"] = ["申毅", "梁飞", "张伟利", "张伟"]
    data["groups"].append(
        {"key": "shangde", "name": "尚德中学群", "platform": "wecom", "webhook": "shangde-key"}
    )
    return data


@pytest.fixture
def bound(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    settings = settings_from_mapping(bind_campaign(db_url, tmp_path / "data"))
    services = build_services(settings, clock=clock)
    yield services
    services.engine.dispose()


def send(
    services: Services, sender: str, text: str, *, chat: str = "", platform: Platform = "wecom"
) -> Outcome:
    channel = "dingtalk" if platform == "dingtalk" else "wecom_robot" if chat else "wecom_app"
    return services.dispatcher.process(
        InboundMessage(
            platform=platform,
            channel=channel,
            message_id=f"bind-{next(IDS)}",
            sender_id=sender,
            text=text,
            chat_type="group" if chat else "private",
            chat_id=chat,
        )
    )


def pushes_to(services: Services, target: str) -> list[str]:
    with transaction(services.factory) as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.target == target))
        return [str(row.payload["text"]) for row in rows]


def test_an_unknown_wecom_user_binds_the_organizer_approves_and_their_score_counts(
    bound: Services,
) -> None:
    assert send(bound, NEWCOMER, SCORE).status == "unknown_person"

    asked = send(bound, NEWCOMER, "@教育局助手 绑定 尚德中学 张伟")
    assert asked.status == "ok", asked.reply.text
    assert "已收到绑定申请：尚德中学 张伟" in asked.reply.text
    assert "教育股确认后即可使用" in asked.reply.text
    (notice,) = pushes_to(bound, "jiaoyugu")
    assert f"企业微信账号（{NEWCOMER}）申请绑定为 尚德中学 张伟" in notice
    assert "同意 张伟" in notice
    # Pending is not bound: the score is still refused.
    assert send(bound, NEWCOMER, SCORE).status == "unknown_person"

    approved = send(bound, "jiaoyugu", "同意 张伟")
    assert approved.status == "ok", approved.reply.text
    assert approved.reply.text == f"已同意：尚德中学 张伟（企业微信账号 {NEWCOMER}）。"
    (told,) = pushes_to(bound, NEWCOMER)
    assert "您的绑定已确认：您是 尚德中学 张伟" in told

    scored = send(bound, NEWCOMER, SCORE)
    assert scored.status == "ok", scored.reply.text
    assert scored.reply.text.startswith("已记录 张伟 → 瑞泉中学共同体：86 分")
    with transaction(bound.factory) as session:
        assert session.scalar(select(ScoreSheet.id)) is not None

    # The file still has no id for 张伟: a sync (restart, reload) keeps the binding.
    with transaction(bound.factory) as session:
        sync_config(session, bound.settings)
    assert send(bound, NEWCOMER, SCORE.replace("评分", "更正")).status == "ok"


@pytest.mark.parametrize(
    ("sender", "text", "reason"),
    [
        pytest.param(NEWCOMER, "绑定 尚德中学 李四", "名单中没有尚德中学李四", id="no-such-person"),
        pytest.param(NEWCOMER, "绑定 育红中学 张伟", "名单中的张伟不在育红中学", id="wrong-unit"),
        pytest.param(
            NEWCOMER, "绑定 人事股 申毅", "申毅 已经绑定了企业微信账号", id="already-bound"
        ),
        pytest.param(
            NEWCOMER, "绑定 张", "名单中有多位姓名相近的人员（张伟利、张伟）", id="ambiguous"
        ),
        pytest.param(NEWCOMER, "绑定 13000000000", "名单中没有登记手机号 13000000000", id="mobile"),
        pytest.param(NEWCOMER, "绑定", "请写上您的单位和姓名，或手机号", id="nothing"),
        pytest.param("shenyi", "同意 张伟", "绑定申请由活动组织者确认", id="not-organizer"),
        pytest.param("jiaoyugu", "同意 张伟", "现在没有待确认的绑定申请", id="nothing-pending"),
        pytest.param(NEWCOMER, "绑定群 尚德中学群", "请在要绑定的群里", id="group-in-private"),
    ],
)
def test_a_wrong_binding_is_refused_with_the_reason(
    bound: Services, sender: str, text: str, reason: str
) -> None:
    outcome = send(bound, sender, text)
    assert outcome.status == "refused", outcome.reply.text
    assert reason in outcome.reply.text
    with transaction(bound.factory) as session:
        assert session.scalar(select(Binding.id)) is None


def test_a_matching_mobile_binds_at_once_on_dingtalk(bound: Services) -> None:
    outcome = send(bound, "ding-zw", "绑定 139 1234 5678", platform="dingtalk")
    assert outcome.reply.text == "绑定成功：您是 尚德中学 张伟。发送“帮助”查看您可以使用的命令。"
    (notice,) = pushes_to(bound, "jiaoyugu")
    assert "张伟 已用登记的手机号绑定钉钉账号" in notice
    scored = send(bound, "ding-zw", SCORE, platform="dingtalk")
    assert scored.reply.text.startswith("已记录 张伟 → 瑞泉中学共同体"), scored.reply.text
    # One account per person and platform: a second one is refused.
    again = send(bound, "ding-other", "绑定 13912345678", platform="dingtalk")
    assert "张伟 已经绑定了钉钉账号" in again.reply.text


def test_the_organizer_refuses_with_a_reason_and_two_requests_are_never_guessed_between(
    bound: Services,
) -> None:
    send(bound, NEWCOMER, "绑定 尚德中学 张伟")
    send(bound, "wx-impostor", "绑定 张伟")
    both = send(bound, "jiaoyugu", "同意 张伟")
    assert both.status == "refused"
    assert "有 2 条申请符合" in both.reply.text
    with transaction(bound.factory) as session:
        first, second = session.scalars(select(Binding.id).order_by(Binding.id)).all()

    refused = send(bound, "jiaoyugu", f"拒绝 #{second} 不是本人")
    assert refused.reply.text.startswith("已拒绝：尚德中学 张伟（企业微信账号 wx-impostor）")
    (told,) = pushes_to(bound, "wx-impostor")
    assert "未通过：不是本人" in told
    assert send(bound, "wx-impostor", SCORE).status == "unknown_person"

    assert send(bound, "jiaoyugu", "批准").reply.text.startswith("已同意：尚德中学 张伟")
    assert first != second


def test_a_group_binds_itself_once_an_organizer_confirms(bound: Services) -> None:
    asked = send(bound, "shenyi", "@教育局助手 绑定群 尚德中学群", chat="wrShangde")
    assert asked.reply.text == "已收到：本群将登记为 尚德中学群，活动组织者确认后生效。"
    assert "同意群 尚德中学群" in pushes_to(bound, "jiaoyugu")[0]

    confirmed = send(bound, "jiaoyugu", "同意群 尚德中学群")
    assert confirmed.reply.text == "已同意：群 shangde（企业微信群 wrShangde）。", (
        confirmed.reply.text
    )
    assert "本群已登记" in pushes_to(bound, "shangde")[0]
    with transaction(bound.factory) as session:
        assert bound.dispatcher._catalog.get(session).group_by_chat["wrShangde"]
        sync_config(session, bound.settings)  # survives a sync of a file without chat_id
        assert bound.dispatcher._catalog.get(session).group_by_chat["wrShangde"]

    again = send(bound, "shenyi", "绑定群 尚德中学群", chat="wrShangde")
    assert again.reply.text == "本群已登记为 尚德中学群，无需再绑定。"


def test_an_organizer_binding_a_group_needs_no_confirmation(bound: Services) -> None:
    shown = send(bound, "jiaoyugu", "帮助", chat="wrShangde").reply.text
    assert "也可以在本群发送“绑定群 群名”，立即登记。" in shown
    done = send(bound, "jiaoyugu", "绑定群 尚德中学", chat="wrShangde")
    assert done.reply.text == "本群已登记为 尚德中学群。"
    taken = send(bound, "jiaoyugu", "绑定群 领导小组群", chat="wrOther")
    assert taken.status == "refused"
    assert "领导小组群 已登记了另一个群" in taken.reply.text


def test_help_lists_the_organizer_commands_only_to_organizers(bound: Services) -> None:
    shown = send(bound, "jiaoyugu", "帮助").reply.text
    assert "【组织者：绑定与现场调整】" in shown
    for line in (
        "同意 姓名 / 拒绝 姓名 原因：处理“绑定”申请（现有 0 条待确认）",
        "绑定群 瑞泉中学会场",
        "换评委 瑞泉中学会场 原评委 → 新评委",
        "加选手 瑞泉中学会场 选手名",
        "改时间 瑞泉中学会场 9:30",
    ):
        assert line in shown
    send(bound, NEWCOMER, "绑定 张伟")
    assert "现有 1 条待确认" in send(bound, "jiaoyugu", "帮助").reply.text
    assert "绑定与现场调整" not in send(bound, "shenyi", "帮助").reply.text
