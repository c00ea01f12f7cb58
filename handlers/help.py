"""帮助 and the hint for anything we do not understand."""

from __future__ import annotations

from handlers.commands import Help, Unknown
from handlers.context import Context
from handlers.messages import Reply

_SECTIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("judge",),
        "【评委】\n"
        "评分 瑞泉中学 18 22 17 20 9 —— 按评分表顺序逐项给分\n"
        "评分 3号 目标18 措施22 进展17 成效20 表现9 —— 按项目名给分，顺序不限\n"
        "评分（换行）韩马 19 23 18 22 9（换行）4号 18 22 18 21 9 —— 一次评多位\n"
        "更正 瑞泉中学 19 22 17 20 9 —— 修改已评分数（原记录保留）\n"
        "确认 瑞泉中学 —— 分差过大时确认无误\n"
        "进度 —— 查看还有哪些选手未评",
    ),
    (
        ("host",),
        "【主持人】\n进度 —— 评委 × 选手评分进度\n排名 —— 当前成绩表\n"
        "公布 —— 锁定会场并推送成绩\n导出 —— 成绩汇总表（Excel；导出 csv 为 CSV）\n"
        "未交 书面报告 —— 未提交名单（按单位）\n我的 —— 我的待办",
    ),
    (
        ("principal",),
        "【校长/负责人】\n提交 书面报告 https://… —— 提交材料（也可直接发送文件）\n"
        "我的 —— 我的待办和截止时间",
    ),
    (
        ("leader", "organizer", "admin"),
        "【领导/组织者】\n排名 瑞泉中学会场 —— 查看会场成绩\n进度 —— 各会场评分进度\n"
        "未交 书面报告 —— 未提交名单（按单位）\n导出 瑞泉中学会场 —— 成绩汇总表\n"
        "公布 瑞泉中学会场 —— 组织者可代主持人公布\n我的 —— 我的待办",
    ),
)


def handle_help(ctx: Context, command: Help) -> Reply:
    """The commands this person may use, with examples."""
    sections = [text for roles, text in _SECTIONS if ctx.person.has_role(*roles)]
    if not sections:
        sections = ["我的 —— 我的待办"]
    return Reply(f"{ctx.person.name}，您可以使用：\n" + "\n\n".join(sections))


def handle_unknown(ctx: Context, command: Unknown) -> Reply:
    """A short hint, never silence."""
    if not command.text:
        return Reply("请发送文字命令，例如“帮助”。")
    shown = command.text if len(command.text) <= 20 else command.text[:20] + "…"
    return Reply(f"没有听懂“{shown}”。发送“帮助”查看可用命令。")
