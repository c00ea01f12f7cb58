"""After a score's commit: a venue that another judge's last score completed at the same time.

On a database server two judges' last scores can commit side by side, each counting the
other's tally as it was before: neither sees the venue complete, and nobody would complete
it. A score that finishes its judge's column while its venue looks incomplete
(``Context.meanwhile``) looks again once it has committed, in a transaction of its own.
Whichever of the two commits last then sees every sheet, and completes the venue as its
score would have (``handlers.scoring.complete_meanwhile``): the 🎉 joins its answer, stored
with the message and sent, and the group hears of it. On SQLite writers take turns, the
last one sees the rest, and nothing is looked at again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from bot.answers import fit_reply, queue_session_reply
from handlers.catalog import Catalog, VenueSpec
from handlers.context import Context
from handlers.messages import InboundMessage, Reply
from handlers.scoring import complete_meanwhile
from storage.db import transaction
from storage.inbound import Settled, settle_inbounds
from storage.people import Member

if TYPE_CHECKING:
    from bot.dispatcher import Outcome

log = logging.getLogger("edubot.dispatch")


@dataclass(frozen=True, slots=True)
class LookAgain:
    """Who a handled message's context was made for, and its ``Context.meanwhile``."""

    venues: tuple[VenueSpec, ...]
    catalog: Catalog | None
    person: Member
    inbound_id: int
    now: datetime


MakeContext = Callable[[Session, InboundMessage, LookAgain], Context]


def complete_after_commit(
    factory: sessionmaker[Session],
    make_context: MakeContext,
    message: InboundMessage,
    outcome: Outcome,
    again: LookAgain,
) -> Reply | None:
    """The answer with the completion's note when one of ``again.venues`` is complete now,
    else None. The message is stored already: a failure here is logged, and the answer
    stays as it was (None)."""
    try:
        with transaction(factory) as session:
            note = complete_meanwhile(make_context(session, message, again), again.venues)
            if not note:
                return None
            reply = fit_reply(Reply(f"{outcome.reply.text}\n{note}", outcome.reply.mentions))
            settle_inbounds(session, [Settled(again.inbound_id, outcome.status, reply.text)])
            if message.channel == "dingtalk" and message.reply_url:
                queue_session_reply(
                    session, message, Reply(note), again.inbound_id, again.now, more=":done"
                )
            return reply
    except Exception:
        log.exception("looking again at %s after its commit failed", message.message_id)
        return None
