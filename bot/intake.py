"""How an HTTP request's message reaches the dispatcher, from the event loop.

Two ways:

- a ``quick`` message (a text of scores) joins this process's queue of quick messages.
  Whoever drains the queue takes everything waiting in it at once into one transaction
  (``Dispatcher.process_many``): one commit and one sync to disk for the lot, each message
  answered only once that transaction has committed. The requests the event loop read in
  one turn are queued before the drain starts, so under load the batches grow with the
  load and the cost of the commit is shared (a group commit); alone, a message is a batch
  of one and waits for nobody. While the database's writers' turn is free, the batch runs
  right on the event loop (``Dispatcher.process_many_now``): no hand-off to a thread and
  back. When another writer holds the turn, it runs on a thread, which waits for it;
- anything else (a file to fetch, a table to draw, an export) runs alone on a thread
  (``Dispatcher.process``), as it always did.

On a database server the writers' turn is never free (every statement is a round trip), so
batches always run on a thread there; each worker has its own, and their batches run side
by side, taking rows in one order (``Dispatcher.process_many``).

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
"""Messages in one transaction at most: a batch holds the writers' turn (and, on the event
loop, every other request of the worker) ~0.2–0.3 ms a message, plus its commit."""

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
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, command, answer))
        if self._draining is None:
            # Starts after the requests already read this turn of the loop have queued.
            self._draining = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run(batch)
                await asyncio.sleep(0)  # let the answered requests go out before the next
        finally:
            self._draining = None

    async def _run(self, batch: list[_Waiting]) -> None:
        items = [(message, command) for message, command, _ in batch]
        if len(items) > 1:
            self.batches.append(len(items))
        try:
            outcomes = self._dispatcher.process_many_now(items)
            if outcomes is None:  # another writer holds the turn: wait for it on a thread
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
