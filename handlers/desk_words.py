"""The web desk's chat words: 后台 (a one-time link) and 看板 (a projector link)."""

from __future__ import annotations

from collections.abc import Callable

from handlers.commands import Board, Desk

DESK_WORDS: dict[str, str] = {"后台": "desk", "看板": "board"}
DESK_PARSERS: dict[str, Callable[[str], Desk | Board]] = {
    "desk": lambda _rest: Desk(),
    "board": Board,
}
