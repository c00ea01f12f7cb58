"""After a message's commit: a venue that another judge's message settled at the same time.

On a database server two judges' messages can commit side by side, each reading the other's
work as it was before. Two last scores each count the other's tally as it was: neither sees
the venue complete. Two 确认 of the last two outlying scores (or one and the score that
completes the venue) each see the other's outlier still open: neither auto-publishes. Such
a message lists the venue in ``Context.recheck_after_commit`` and looks again once it has
committed, in a transaction of its own. Whichever commits last then sees all of it, and
completes or publishes the venue as its message would have
(``handlers.publishing.complete_meanwhile``): the note joins its answer, stored with the
message and sent, and the group hears of it. On SQLite writers take turns, the last one
sees the rest, and nothing is looked at again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.answers import fit_reply, queue_session_reply
from handlers.catalog import Catalog, VenueSpec
from handlers.context import Context
from handlers.messages import InboundMessage, Reply
from handlers.publishing import complete_meanwhile
from storage.db import transaction
from storage.errors import StorageUnavailable
from storage.inbound import Settled, settle_inbounds
from storage.people import Member

if TYPE_CHECKING:
    from bot.dispatcher import Outcome

log = logging.getLogger("edubot.dispatch")


@dataclass(frozen=True, slots=True)
class Sender:
    """Whom a message's ``Context`` is made for, and when."""

    person: Member
    inbound_id: int
    catalog: Catalog | None
    now: datetime


@dataclass(frozen=True, slots=True)
class LookAgain:
    """A handled message's ``Context.recheck_after_commit``, and its sender."""

    venues: tuple[VenueSpec, ...]
    sender: Sender


MakeContext = Callable[[Session, InboundMessage, Sender], Context]

TRIES = 3
"""A look that fails on the database (a deadlock, a dropped connection) is tried again:
nobody else may look at this venue again."""


def complete_after_commit(
    factory: sessionmaker[Session],
    make_context: MakeContext,
    message: InboundMessage,
    outcome: Outcome,
    again: LookAgain,
) -> Reply | None:
    """The answer with the completion's note when one of ``again.venues`` is complete now,
    else None. The message is stored already, so a failure here only costs the note: it is
    logged and the answer stays as it was (None). A venue left complete but not completed
    by such a failure is published by its host's 公布, which counts the sheets."""
    who = again.sender
    for attempt in range(1, TRIES + 1):
        try:
            with transaction(factory) as session:
                note = complete_meanwhile(make_context(session, message, who), again.venues)
                if not note:
                    return None
                reply = fit_reply(Reply(f"{outcome.reply.text}\n{note}", outcome.reply.mentions))
                settle_inbounds(session, [Settled(who.inbound_id, outcome.status, reply.text)])
                if message.channel == "dingtalk" and message.reply_url:
                    queue_session_reply(
                        session, message, Reply(note), who.inbound_id, who.now, more="done"
                    )
                return reply
        except (DBAPIError, StorageUnavailable):
            if attempt == TRIES:
                log.exception("looking again at %s after its commit failed", message.message_id)
        except Exception:
            log.exception("looking again at %s after its commit failed", message.message_id)
            break
    return None
