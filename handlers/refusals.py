"""The next step a refusal names, true for whoever reads it.

An organizer is never told to ask the organizer: they are told where the config file sets
the thing. Everyone else is told whom to ask, by name when the config names organizers. A
judge is pointed at their own work (进度), anyone else at what they may use (帮助).
"""

from __future__ import annotations

from handlers.context import Context
from storage.people import people_with_role

ORGANIZERS = ("organizer", "admin")


def ask_organizer(ctx: Context, what: str, config_key: str) -> str:
    """``如有疑问请联系教研室。``, or for an organizer where the config sets ``what``."""
    if ctx.person.has_role(*ORGANIZERS):
        where = f"{what}在配置文件的 {config_key} 中设置"
        return f"{where}：请改好后运行 edubot check-config 检查，保存后服务会自动载入。"
    names = "、".join(p.name for p in people_with_role(ctx.session, "organizer"))
    return f"如有疑问请联系{names or '活动组织者'}。"


def next_step(ctx: Context) -> str:
    """What this person can do instead: a judge's own progress, else their 帮助."""
    if ctx.venues().judged_by(ctx.person.id):
        return "发送“进度”查看您还有哪些选手未评。"
    return "发送“帮助”查看您可以用的命令。"
