"""The explicit command → handler table, and the one entry point the dispatcher calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers import commands as c
from handlers.context import Context
from handlers.desk import handle_board, handle_desk
from handlers.export import handle_export
from handlers.help import handle_help, handle_unknown
from handlers.messages import Reply
from handlers.scoring import handle_confirm, handle_score
from handlers.status import handle_progress, handle_publish, handle_ranking, handle_unpublish
from handlers.submissions import handle_mine, handle_missing, handle_submit

Handler = Callable[[Context, Any], Reply]

HANDLERS: dict[type[Any], Handler] = {
    c.Score: handle_score,
    c.Confirm: handle_confirm,
    c.Progress: handle_progress,
    c.Ranking: handle_ranking,
    c.Publish: handle_publish,
    c.Unpublish: handle_unpublish,
    c.Export: handle_export,
    c.Submit: handle_submit,
    c.Missing: handle_missing,
    c.Mine: handle_mine,
    c.Help: handle_help,
    c.Desk: handle_desk,
    c.Board: handle_board,
    c.Unknown: handle_unknown,
}


def handle(ctx: Context, command: c.Command) -> Reply:
    """Run the handler for ``command``. Commands without one get an honest answer."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        return Reply("该功能暂未开放。发送“帮助”查看可用命令。")
    return handler(ctx, command)
