"""``/healthz`` answers within a second even when the database hangs.

The database check runs in a worker thread; the route waits for it at most
``HEALTH_TIMEOUT_S`` and reports a degraded service past that. One check at a time: while a
check is stuck (until the database's own timeouts end it), later calls wait on that same
check instead of stacking up threads behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

HEALTH_TIMEOUT_S = 0.8
"""Leaves the rest of the second for the answer itself."""

T = TypeVar("T")


class HealthProbe(Generic[T]):
    """Runs a blocking check, single-flight, with a deadline."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._running: asyncio.Future[T] | None = None

    async def run(self, check: Callable[[], T]) -> T | None:
        """``check()``'s result, or None if it (or the check before it) is still running."""
        running = self._running
        loop = asyncio.get_running_loop()
        if running is None or running.done() or running.get_loop() is not loop:
            running = self._running = asyncio.ensure_future(run_in_threadpool(check))
        try:
            return await asyncio.wait_for(asyncio.shield(running), self._timeout_s)
        except TimeoutError:
            return None
