"""The outbox's sender, replaced when a reloaded config brings new groups or robots
(``bot.reloading``): the outbox keeps one object, the routes inside it change."""

from __future__ import annotations

from bot.senders.base import Sender
from handlers.messages import OutboundMessage


class SwappableSender:
    """A ``Sender`` that delegates to the router of the config in force."""

    def __init__(self, inner: Sender) -> None:
        self._inner = inner

    def swap(self, inner: Sender) -> None:
        """Route the next pushes with ``inner`` (a push being sent finishes on the old one)."""
        self._inner = inner

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Deliver through the current router."""
        self._inner.send(message, dedupe_key=dedupe_key)

    def rate_key(self, message: OutboundMessage) -> str:
        """The current router's rate key for ``message``."""
        return self._inner.rate_key(message)
