"""进度's lines for report deadlines: one per deadline people are working on now."""

from __future__ import annotations

from handlers.context import Context
from handlers.deadlines import local_text, named, state_counts
from handlers.scopes import in_scope
from handlers.submissions import deadline_states
from storage.submissions import active_people, current_deadlines


def deadline_progress(ctx: Context, scope: frozenset[str] | None = None) -> list[str]:
    """One line per active deadline for organizers' 进度 (``实施方案：应交 3 · 已交 2 …``);
    with ``scope``, counting only the entries of those units."""
    people = active_people(ctx.session)
    lines: list[str] = []
    for d in current_deadlines(ctx.session, ctx.now):
        states = deadline_states(ctx.session, d, people)
        if scope is not None:
            states = in_scope(states, scope)
            if not states:
                continue
        when = local_text(d.due_at, ctx.tz, ctx.now)
        lines.append(f"{named(d)}（截止 {when}）：" + state_counts(states))
    return lines
