"""How an HTTP request's message reaches the dispatcher, from the event loop.

Three ways, cheapest first:

- a ``quick`` message (a text of scores) with nobody ahead of it, while the database's
  writers' turn is free, is handled right on the event loop (``Dispatcher.process_now``):
  no hand-off to a thread and back;
- a quick message that finds the turn taken joins the queue of quick messages; whoever
  drains that queue takes everything waiting in it at once into one transaction
  (``Dispatcher.process_many``, on a thread): one commit and one sync to disk for the lot.
  Under load the queue fills while the batch before it commits, so the batches grow with
  the load and the cost of the commit is shared (a group commit). Each message is answered
  only once the transaction holding it has committed;
- anything else (a file to fetch, a table to draw, an export) runs alone on a thread
  (``Dispatcher.process``), as it always did.

On a database server the writers' turn is never free (every statement is a round trip), so
quick messages always go in batches there; each worker has its own, and their batches run
side by side, taking rows in one order (``Dispatcher.process_many``).

The event loop itself never waits on the database's lock, so ``/healthz`` and the other
requests keep being answered while a batch waits its turn.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.concurrency import run_in_threadpool

from bot.dispatcher import Dispatcher, Outcome
from handlers.commands import Command
from handlers.messages import InboundMessage
from handlers.parsing import parse

MAX_BATCH = 32
"""Messages in one transaction at most: a batch holds the writers' turn ~1 ms a message."""

_Waiting = tuple[InboundMessage, Command, "asyncio.Future[Outcome]"]


class Intake:
    """One per process (per event loop): the queue of quick messages and its drainer."""

    def __init__(self, dispatcher: Dispatcher, *, max_batch: int = MAX_BATCH) -> None:
        self._dispatcher = dispatcher
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None
        self.batches: deque[int] = deque(maxlen=1000)
        """The size of each recent batch of more than one message (tests read it)."""

    async def process(self, message: InboundMessage) -> Outcome:
        """The dispatcher's outcome for ``message`` (see the module's docstring)."""
        command = parse(message.text)
        if not self._dispatcher.quick(message, command):
            return await run_in_threadpool(self._dispatcher.process, message, command)
        if self._draining is None:  # nobody ahead in this process
            outcome = self._dispatcher.process_now(message, command)
            if outcome is not None:
                return outcome
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, command, answer))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run(batch)
        finally:
            self._draining = None

    async def _run(self, batch: list[_Waiting]) -> None:
        items = [(message, command) for message, command, _ in batch]
        if len(items) > 1:
            self.batches.append(len(items))
        try:
            outcomes = await run_in_threadpool(self._dispatcher.process_many, items)
        except Exception as exc:  # nothing of the batch is stored: every request says why
            for _, _, answer in batch:
                if not answer.done():  # a request whose client left was cancelled
                    answer.set_exception(exc)
            return
        for (_, _, answer), outcome in zip(batch, outcomes, strict=True):
            if answer.done():
                continue
            if isinstance(outcome, Outcome):
                answer.set_result(outcome)
            else:  # this one alone was not stored
                answer.set_exception(outcome)
