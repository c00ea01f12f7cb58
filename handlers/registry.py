"""The explicit command → handler table, and the one entry point the dispatcher calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers import commands as c
from handlers import setup_commands as setup
from handlers.approvals import handle_approve, handle_reject
from handlers.binding import handle_bind, handle_bind_group
from handlers.context import Context
from handlers.day_of import handle_add_contestant, handle_move_time, handle_swap_judge
from handlers.desk import handle_board, handle_desk
from handlers.export import handle_export
from handlers.help import handle_help, handle_unknown
from handlers.messages import Reply
from handlers.reviews import (
    handle_confirm_or_accept,
    handle_review,
    handle_submitted,
    handle_urge,
)
from handlers.scoring import handle_score
from handlers.status import handle_progress, handle_publish, handle_ranking, handle_unpublish
from handlers.submissions import handle_mine, handle_missing, handle_submit

Handler = Callable[[Context, Any], Reply]

HANDLERS: dict[type[Any], Handler] = {
    c.Score: handle_score,
    c.Confirm: handle_confirm_or_accept,
    c.Progress: handle_progress,
    c.Ranking: handle_ranking,
    c.Publish: handle_publish,
    c.Unpublish: handle_unpublish,
    c.Export: handle_export,
    c.Submit: handle_submit,
    c.Missing: handle_missing,
    c.Mine: handle_mine,
    c.Submitted: handle_submitted,
    c.Review: handle_review,
    c.Urge: handle_urge,
    c.Help: handle_help,
    c.Desk: handle_desk,
    c.Board: handle_board,
    c.Unknown: handle_unknown,
    setup.Bind: handle_bind,
    setup.BindGroup: handle_bind_group,
    setup.Approve: handle_approve,
    setup.Reject: handle_reject,
    setup.SwapJudge: handle_swap_judge,
    setup.AddContestant: handle_add_contestant,
    setup.MoveTime: handle_move_time,
}


def handle(ctx: Context, command: c.Command) -> Reply:
    """Run the handler for ``command``. Commands without one get an honest answer."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        return Reply("该功能暂未开放。发送“帮助”查看可用命令。")
    return handler(ctx, command)
