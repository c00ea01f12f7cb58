"""A deadline for reading each request, which uvicorn does not have.

uvicorn drops idle keep-alive connections, but a client that stalls inside its headers or
its body keeps its connection (and the memory behind it) forever; a few hundred such
clients exhaust the server. Here every request must arrive whole, headers and body, within
``read_timeout_s`` of the connection opening or of the previous answer; a request still
arriving then gets one more period, and the connection is closed if it is still not whole.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger("edubot.http")


def timed_protocol(read_timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools or h11), with a read deadline per request."""

    class TimedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm(self.cycle)

        def connection_lost(self, exc: Exception | None) -> None:
            timer = getattr(self, "_read_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

        def _arm(self, seen: object, *, last: bool = False) -> None:
            timer = getattr(self, "_read_timer", None)
            if timer is not None:
                timer.cancel()
            self._read_timer = self.loop.call_later(read_timeout_s, self._expired, seen, last)

        def _expired(self, seen: object, last: bool) -> None:
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is not None and cycle is not seen:  # a request began since
                if not cycle.more_body:
                    return  # it arrived whole; its answer re-arms the deadline
                if not last:
                    self._arm(cycle, last=True)
                    return
            log.warning("closing a connection: no whole request within %s s", read_timeout_s)
            self.transport.close()

    return TimedHTTPProtocol
