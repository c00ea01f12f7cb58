"""The port every platform's callback implements, and the framework-free request it reads.

``bot.app`` drives every callback route through ``Callback`` the same way::

    verify(request, now)         refuse (Forbidden → 403) what cannot be from the platform,
                                 before the body is read
    ... the app reads the body, refusing one over the limit (413) ...
    parse(request, body, now)    the message to handle, or the answer to give at once (a URL
                                 check, an event); unreadable → MalformedRequest (400)
    ... the dispatcher handles the message ...
    answer(message, reply, now)  the HTTP answer: an (encrypted) passive reply, or an ack

Pushes are not part of this port: they leave later through the outbox, by the platform's
senders (``bot.senders.base.Sender``). Nothing here sees Starlette, so a callback can be
driven without HTTP; a second transport (a WebSocket long connection) would call the
platform's pure ``wire`` parsers itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn, Protocol

from bot.errors import Forbidden
from handlers.messages import InboundMessage, Reply


@dataclass(frozen=True, slots=True)
class WireRequest:
    """What a callback may read of a request besides its body.

    ``query`` is URL-decoded; ``headers`` looks names up in lower case (Starlette's headers
    ignore case altogether).
    """

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]

    @property
    def is_read(self) -> bool:
        """A GET (or HEAD): a URL check, with no body to read."""
        return self.method in ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class WireAnswer:
    """The body and media type of a 200 answer (``None``: no Content-Type at all)."""

    body: bytes = b""
    media_type: str | None = None


EMPTY = WireAnswer()
"""An empty 200: the platform only needs to know we have the message."""


class Callback(Protocol):
    """One inbound endpoint of one platform (WeCom has two: the app and the robot)."""

    def verify(self, request: WireRequest, *, now: datetime) -> None:
        """Raise ``Forbidden`` for what cannot be from the platform; the body is unread yet."""
        ...

    def parse(
        self, request: WireRequest, body: bytes, *, now: datetime
    ) -> InboundMessage | WireAnswer:
        """The message in ``body``, or the answer to give without handling one.

        Checks that need the body (a signature over an encrypted envelope) happen here.
        """
        ...

    def answer(self, message: InboundMessage, reply: Reply, *, now: datetime) -> WireAnswer:
        """The answer to ``message`` once it has been handled and ``reply`` decided."""
        ...


class Unconfigured:
    """The ``Callback`` of an endpoint the settings leave off: nobody can have signed for it."""

    def __init__(self, what: str) -> None:
        self.what = what

    def verify(self, request: WireRequest, *, now: datetime) -> NoReturn:
        """Always refuse."""
        raise Forbidden(f"{self.what} is not configured")

    def parse(self, request: WireRequest, body: bytes, *, now: datetime) -> NoReturn:
        """Always refuse (``verify`` already did)."""
        raise Forbidden(f"{self.what} is not configured")

    def answer(self, message: InboundMessage, reply: Reply, *, now: datetime) -> NoReturn:
        """Always refuse (``verify`` already did)."""
        raise Forbidden(f"{self.what} is not configured")
