"""From an authenticated ``InboundMessage`` to a committed answer.

One transaction per message: the inbound log row (unique on platform + message id), the
handler's changes, any pushes it caused and the answer text commit together, so a message
answered with 200 is stored, and a retried delivery gets the stored answer without running
the handler again. A refusal (``BotError``) or a bug rolls the whole transaction back, and a
second one records the log row with the answer alone: refusals are the rare path, so the
common one pays for no savepoint (two statements, each a round trip to a database server).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.answers import fit_reply, queue_session_reply, stranger_reply
from bot.claims import Claim, Claims
from bot.clock import Clock
from bot.meanwhile import LookAgain, Sender, complete_after_commit
from bot.senders.limits import max_text_bytes
from handlers.binding import handle_stranger
from handlers.catalog import CatalogCache
from handlers.commands import Command, Score, Submit, Unknown
from handlers.context import Context, DeskLinks
from handlers.errors import BotError
from handlers.files import FileIntake
from handlers.messages import Channel, InboundMessage, Reply
from handlers.parsing import parse
from handlers.phases import Phase
from handlers.pushes import queued_pushes
from handlers.registry import handle
from handlers.submissions import attachment_handler, handle_attachment, submit_handler
from storage.db import transaction, writer_turn_if_free
from storage.errors import RepeatDelivery, StorageUnavailable, WriterBusy
from storage.inbound import Settled, find_inbound, settle_inbound, settle_inbounds

log = logging.getLogger("edubot.dispatch")

POLITE_FAILURE = "抱歉，处理您的消息时出错了，工作人员已收到记录。请稍后再试。"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the HTTP layer needs to answer."""

    reply: Reply
    duplicate: bool = False
    status: str = "ok"
    pushed: bool = False
    """The message queued pushes (an answer via sessionWebhook, a completion notice...)."""
    look_again: LookAgain | None = field(default=None, compare=False, repr=False)
    """The dispatcher's own: venues to look at again after the commit (``bot.meanwhile``)."""


class Dispatcher:
    """Runs one inbound message through the handlers inside one transaction."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        clock: Clock,
        tz: ZoneInfo,
        data_dir: Path,
        on_push: Callable[[], None] | None = None,
        files: Mapping[Channel, FileIntake] | None = None,
        phases: tuple[Phase, ...] = (),
        scopes: Mapping[str, frozenset[str]] | None = None,
        desk: DeskLinks | None = None,
        pictures: bool = False,
    ) -> None:
        """``files``: how each channel's attachments are fetched. A channel without one
        refuses files (the registry's 提交 handler and ``handle_attachment``)."""
        self._factory = factory
        self._clock = clock
        self._tz = tz
        self._data_dir = data_dir
        self._on_push = on_push or (lambda: None)
        self._phases = phases
        self._scopes = dict(scopes or {})
        self._desk = desk
        self._pictures = pictures
        self._catalog = CatalogCache()
        self._claims = Claims(self._catalog)
        self._file_handlers = {
            channel: (submit_handler(intake), attachment_handler(intake))
            for channel, intake in (files or {}).items()
        }

    def prime(self, session: Session) -> None:
        """Load the catalog now (start-up, right after the config sync) rather than on the
        first message, which would otherwise wait for it (~17 ms for 20 venues)."""
        self._catalog.get(session)

    def process(self, message: InboundMessage, command: Command | None = None) -> Outcome:
        """The answer to ``message``, handled once: a repeated delivery gets the stored answer.

        A DingTalk answer is itself a push (through the sessionWebhook, queued with the
        message), so the outbox is woken after every new DingTalk message. Raises
        ``StorageUnavailable`` when the database cannot take the message now (the HTTP
        layer answers 503 and the platform retries). ``command``: the text already parsed;
        the text is parsed before the transaction, never while holding the writers' turn.
        """
        command = parse(message.text) if command is None else command
        try:
            outcome = self._look_again(message, self._process(message, command))
        except (RepeatDelivery, IntegrityError):
            # Another delivery of the same message won the race for the log row (or, for
            # an IntegrityError elsewhere, a concurrent write: _replay answers 503).
            outcome = self._replay(message)
        if outcome.pushed:
            self._on_push()  # send them now, not at the outbox's next poll
        return outcome

    @staticmethod
    def quick(message: InboundMessage, command: Command) -> bool:
        """A text of scores: no file to fetch, no table to draw, a few rows to write. Only
        these are run on the caller's thread (``process_many_now``) or several to a
        transaction (``process_many``)."""
        return message.attachment is None and isinstance(command, Score)

    def process_many_now(
        self, messages: Sequence[tuple[InboundMessage, Command]]
    ) -> list[Outcome | StorageUnavailable] | None:
        """``process_many(messages)`` on the caller's thread when every one is ``quick`` and
        nothing has to wait: while the database's writers' turn is free (SQLite; see
        ``writer_turn_if_free``). ``None`` otherwise, with nothing stored: the caller runs
        them on a thread, which may wait. Lets the HTTP layer answer the messages that
        arrived together in one transaction on its event loop, without a hand-off to a
        thread and back. (A writer from outside edubot that takes SQLite's lock between a
        refused batch's first run and its run in savepoints sends the batch to the thread
        too, where every handler runs again.)"""
        if not all(self.quick(message, command) for message, command in messages):
            return None
        with writer_turn_if_free(self._factory) as free:
            if not free:
                return None
            try:
                return self.process_many(messages)
            except WriterBusy:  # a writer from outside edubot: nothing was stored
                return None

    def process_many(
        self, messages: Sequence[tuple[InboundMessage, Command]]
    ) -> list[Outcome | StorageUnavailable]:
        """The answers to several ``quick`` messages, in one transaction: one commit and one
        sync to disk for all of them (a group commit). When one of them is refused or is a
        repeated delivery (rare), the whole batch is rolled back and run again with each
        message in a savepoint of its own, so that the refusal undoes only that message's
        writes and records its answer, and the repeat gets the stored answer, as in
        ``process``. One that breaks a constraint and is no repeat is not stored, and gets
        the ``StorageUnavailable`` that ``process`` would raise for it (a 503), in its place
        in the list: the others are stored. A failure of the transaction itself (the
        database unavailable) fails them all: none is stored and every one is answered 503,
        to be retried."""
        if len(messages) == 1:
            return [self.process(*messages[0])]
        # Run in the order of their senders (a stable sort: one judge's messages keep their
        # order). On a database server batches of several workers run side by side and
        # each locks its judges' tally rows as it goes; taken in one order by all, two
        # batches wait for each other instead of deadlocking.
        order = sorted(range(len(messages)), key=lambda i: _sender_key(messages[i][0]))
        outcomes = self._run_many([messages[i] for i in order])
        answers: list[Outcome | StorageUnavailable] = [outcomes[0]] * len(messages)
        for position, index in enumerate(order):
            outcome = outcomes[position]
            if isinstance(outcome, Outcome):
                outcome = self._look_again(messages[index][0], outcome)
            answers[index] = outcome
        if any(isinstance(outcome, Outcome) and outcome.pushed for outcome in answers):
            self._on_push()
        return answers

    def _run_many(
        self, messages: Sequence[tuple[InboundMessage, Command]]
    ) -> list[Outcome | StorageUnavailable]:
        now = self._clock.now()
        refused: dict[int, _Undone] = {}
        try:  # the common case first: every one stored, no savepoints
            with transaction(self._factory) as session:
                outcomes: list[Outcome | StorageUnavailable] = []
                # Claimed together and answered together: a round trip each on a server.
                claims = self._claims.many(session, [m for m, _ in messages], now)
                answers: list[Settled] = []
                for index, (m, command) in enumerate(messages):
                    try:
                        claim = None if claims is None else claims[index]
                        outcome = self._handle_in(
                            session, m, now, command, None, claim=claim, answers=answers
                        )
                        outcomes.append(outcome)
                    except _Undone as undone:
                        refused[index] = undone
                        raise
                settle_inbounds(session, answers)
        except (_Undone, RepeatDelivery, IntegrityError):
            # One was refused or is a repeat (rare): all was rolled back; again, each alone.
            # The refused one is answered as it was refused (as ``process`` does), not run
            # again: a handler's bug would run and be logged twice.
            with transaction(self._factory) as session:
                outcomes = [
                    self._one_of_many(session, m, command, now, refused.get(index))
                    for index, (m, command) in enumerate(messages)
                ]
        return outcomes

    def _one_of_many(
        self,
        session: Session,
        message: InboundMessage,
        command: Command,
        now: datetime,
        undone: _Undone | None,
    ) -> Outcome | StorageUnavailable:
        try:
            if undone is None:
                try:
                    with session.begin_nested():
                        return self._handle_in(session, message, now, command, None)
                except _Undone as refused:  # rolled back to the savepoint
                    undone = refused
            with session.begin_nested():  # record the answer alone
                return self._handle_in(session, message, now, command, undone)
        except (RepeatDelivery, IntegrityError):
            try:
                return self._stored(session, message)
            except StorageUnavailable as lost:  # no repeat: only this message is not stored
                return lost

    def _replay(self, message: InboundMessage) -> Outcome:
        with transaction(self._factory) as session:
            return self._stored(session, message)

    @staticmethod
    def _stored(session: Session, message: InboundMessage) -> Outcome:
        row = find_inbound(session, message.platform, message.message_id)
        if row is None:
            raise StorageUnavailable("concurrent write conflict; retry")
        log.info("duplicate delivery %s:%s", message.platform, message.message_id)
        return Outcome(Reply(row.reply_text), duplicate=True, status=row.status)

    def _process(self, message: InboundMessage, command: Command) -> Outcome:
        """A repeated delivery meets the log's unique index (``RepeatDelivery``) and is
        answered from the log by ``_replay``: no lookup first, since repeats are rare."""
        now = self._clock.now()
        try:
            return self._handle(message, now, command, None)
        except _Undone as undone:  # the handler's writes were rolled back with the rest
            return self._handle(message, now, command, undone)

    def _handle(
        self,
        message: InboundMessage,
        now: datetime,
        command: Command,
        undone: _Undone | None,
    ) -> Outcome:
        """One transaction: the log row, the handler's changes (none when ``undone`` holds
        the refusal or failure to record instead) and the answer."""
        with transaction(self._factory) as session:
            return self._handle_in(session, message, now, command, undone)

    def _handle_in(
        self,
        session: Session,
        message: InboundMessage,
        now: datetime,
        command: Command,
        undone: _Undone | None,
        *,
        claim: Claim | None = None,
        answers: list[Settled] | None = None,
    ) -> Outcome:
        """The log row (``claim``: claimed already), the handler's run (or ``undone``'s
        answer) and the answer stored (or, with ``answers``, added there for the caller to
        store)."""
        catalog, person, inbound_id = (
            self._claims.one(session, message, now) if claim is None else claim
        )
        again = None
        if undone is not None:
            reply, status = undone.reply, undone.status
        elif person is None:
            reply, status = handle_stranger(session, message, now) or (
                stranger_reply(session, message),
                "unknown_person",
            )
            log.warning("unknown sender %s:%s", message.platform, message.sender_id)
        else:
            sender = Sender(person, inbound_id, catalog, now)
            ctx = self._context(session, message, sender)
            reply, status = self._run(ctx, command)
            if ctx.recheck_after_commit:
                again = LookAgain(tuple(ctx.recheck_after_commit), sender)
        reply = fit_reply(reply)
        if answers is None:
            settle_inbound(session, inbound_id, status=status, reply_text=reply.text)
        else:
            answers.append(Settled(inbound_id, status, reply.text))
        if message.channel == "dingtalk" and message.reply_url:
            queue_session_reply(session, message, reply, inbound_id, now)
        return Outcome(reply, status=status, pushed=queued_pushes(session), look_again=again)

    def _context(self, session: Session, message: InboundMessage, who: Sender) -> Context:
        return Context(
            session=session,
            person=who.person,
            message=message,
            now=who.now,
            tz=self._tz,
            inbound_id=who.inbound_id,
            data_dir=self._data_dir,
            catalog=who.catalog,
            text_limit=max_text_bytes,
            phases=self._phases,
            oversees=self._scopes.get(who.person.name, frozenset()),
            desk=self._desk,
            pictures=self._pictures,
        )

    def _look_again(self, message: InboundMessage, outcome: Outcome) -> Outcome:
        """``bot.meanwhile`` once the message's transaction has committed."""
        again = outcome.look_again
        if again is None:
            return outcome
        plain = replace(outcome, look_again=None)
        reply = complete_after_commit(self._factory, self._context, message, outcome, again)
        return plain if reply is None else replace(plain, reply=reply, pushed=True)

    def _run(self, ctx: Context, command: Command) -> tuple[Reply, str]:
        """The one error funnel: BotError → its text; a bug → logged, answered politely;
        either way as ``_Undone``, so that the transaction is rolled back.

        A file or image without a command (no text, a bare @-mention or text that is no
        command) goes to the attachment handler; ``提交 材料`` with a file in the same
        message (WeCom robot ``mixed``, DingTalk ``richText``) to the channel's 提交 handler,
        which stores the file with that material.
        """
        by_channel = self._file_handlers.get(ctx.message.channel)
        try:
            reply: Reply | None = None
            if by_channel is not None and isinstance(command, Submit):
                reply = by_channel[0](ctx, command)
            elif ctx.message.attachment is not None and isinstance(command, Unknown):
                attach = by_channel[1] if by_channel is not None else handle_attachment
                reply = attach(ctx)
            return (handle(ctx, command) if reply is None else reply), "ok"
        except BotError as refusal:
            raise _Undone(Reply(refusal.message), "refused") from refusal
        except DBAPIError:
            raise  # the database is in trouble: let the platform retry the delivery
        except Exception as exc:
            log.exception("handler failed for %s", ctx.source)
            raise _Undone(Reply(POLITE_FAILURE), "error") from exc


class _Undone(Exception):
    """The handler refused or failed: roll its writes back, then record only this answer."""

    def __init__(self, reply: Reply, status: str) -> None:
        super().__init__(status)
        self.reply = reply
        self.status = status


def _sender_key(message: InboundMessage) -> tuple[str, str]:
    return message.platform, message.sender_id
