"""Sending the outbox: every push at least once, on time, within each robot's rate limit,
and no robot waiting for another.

``sender`` (OutboxSender: claim, send, settle), ``claims`` (the claim transaction),
``lanes`` (each robot's pushes one after another, robots side by side), ``marks`` (writing
``sent`` marks, many lanes' in one commit), ``claimed`` (the values they pass around),
``alerts`` (telling the organizers); the statements are ``storage.outbox``.

The database is the source of truth. One ``drain`` pass:

1. **claim** — in one short transaction: lock the claim row (``outbox_rate`` "__claim__",
   ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already serialises), pick due rows (pending,
   or ``sending`` whose lease ran out after a crash) with ``FOR UPDATE SKIP LOCKED`` where the
   database has it, leave out the robots this instance is still sending to, and take only as
   many per robot as its 60-second window still allows. The window counts every request
   that started in it, answered or failed (``outbox_attempts``, written with each push's
   outcome), and every claimed push not yet answered, so the limit holds across restarts
   and instances and retries cannot overrun it. Claimed rows become ``sending`` with a lease.
2. **send** — outside any transaction, each robot's claimed rows in a *lane* of their own
   (``serve``: ``[outbox] send_threads`` threads take turns over the lanes, one push per
   turn). Before a push goes out its intent is re-checked (a reminder for someone who
   submitted meanwhile is dropped). When the answer arrives the push is marked ``sent`` and
   its lane sends nothing more to that robot until the mark is committed; the mark writer
   commits all marks waiting at that moment in one transaction. ``serve``'s drain does not
   wait for the lanes: when a lane ends, the drain runs again for that robot's next pushes.
   With one thread (tests, the demo) the claimed rows go out in claim order, each marked
   at once.

   **Leases.** A request may take ``request_timeout_s`` (the HTTP client's bound); the lease
   (``lease_seconds``, at least twice that) is renewed before a push whenever half of its
   slack over one request has gone, so no push is claimed again while its request can still
   complete or its mark is being written.

   **Crash window.** A crash re-sends only pushes whose answer had arrived and whose mark was
   not yet committed: at most one per robot, since a lane waits for its mark. DingTalk's
   custom robots take a ``msgUuid`` and WeCom app messages ``enable_duplicate_check``, which
   absorb such a re-send; WeCom group robots and DingTalk's app robot APIs offer nothing of
   the kind, so there the group may see that one push twice.
3. **settle** — retryable failures go back to ``pending`` with backoff and jitter (at least
   the platform's own ``retry_after``; a blocked robot blocks all its rows); permanent ones
   become ``failed`` and alert the organizers' group once. Either way the request counts.
"""

from __future__ import annotations

from bot.outbox.claimed import DrainStats
from bot.outbox.sender import OutboxSender, Refresh, keep
from bot.senders.base import Sender

__all__ = ["DrainStats", "OutboxSender", "Refresh", "Sender", "keep"]
