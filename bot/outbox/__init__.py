"""Sending the outbox: every push once, on time, within each robot's rate limit.

``sender`` (OutboxSender: claim, send, settle), ``waves`` (cutting a claim into waves),
``alerts`` (telling the organizers); the statements are ``storage.outbox``.

The database is the source of truth. One ``drain`` pass:

1. **claim** — in one short transaction: lock the claim row (``outbox_rate`` "__claim__",
   ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already serialises), pick due rows (pending,
   or ``sending`` whose lease ran out after a crash) with ``FOR UPDATE SKIP LOCKED`` where the
   database has it, and take only as many per robot as its 60-second window still allows,
   counted from what the database says was sent or is in flight (one grouped count for the
   new robots of each chunk of candidates, not one count per robot) — so the limit holds
   across restarts and instances. Claimed rows become ``sending`` with a lease.
2. **send** — outside any transaction, in *waves* of at most ``WAVE`` claimed rows: re-check
   the reasons (a reminder for someone who submitted meanwhile is dropped), send, and mark
   the wave's delivered rows ``sent`` in one transaction right after it.

   A wave holds at most one row per robot. With ``send_threads`` > 1 (what ``edubot
   serve`` runs) its HTTP requests run in parallel on a small thread pool that does nothing but
   send. Every database read and write stays on the draining thread: on SQLite, threads
   writing their own bookkeeping queue for the one write lock and are slower than one
   thread. Each robot's rows still go out in claim order, one at a time. With one thread
   (the default: tests, the demo) the rows go out one by one in claim order, which keeps
   the order of arrivals deterministic.

   **Leases.** A batch that takes longer than half its lease (slow platforms) leases its
   unsent rows again before going on, and a wave's marks that the database refuses are
   written before the next claim, so no other instance takes over a row this one is still
   sending or has sent.

   **Crash window.** A crash after a send and before the mark of its wave re-sends that
   push once its lease has run out. That is at most one wave: ``WAVE`` = 16 pushes, and
   at most one to any one robot (group), where one transaction per push re-sent at most
   one in all. It is the price of one transaction per wave instead of one per push. DingTalk's
   ``msgUuid`` and WeCom's ``enable_duplicate_check`` absorb such re-sends; a WeCom group
   robot has no such aid, so its group may see the push twice, and that second send is not
   in the database's count of the robot's window (if the platform then throttles, the row
   is retried after its ``retry_after`` like any other throttled push).
3. **settle** — retryable failures go back to ``pending`` with backoff and jitter (at least
   the platform's own ``retry_after``; a blocked robot blocks all its rows); permanent ones
   become ``failed`` and alert the organizers' group once. Failures are settled row by row.
"""

from __future__ import annotations

from bot.outbox.sender import OutboxSender, Refresh, keep
from bot.outbox.waves import WAVE, DrainStats
from bot.senders.base import Sender

__all__ = ["WAVE", "DrainStats", "OutboxSender", "Refresh", "Sender", "keep"]
