"""The errors the application layer raises on purpose.

``EdubotError`` is the root of every deliberate edubot error above storage; the whole tree,
with the runtime's errors and storage's, is drawn in ``bot.errors``.
"""

from __future__ import annotations


class EdubotError(Exception):
    """Base of all deliberate edubot errors (storage's own have ``StorageError``)."""


class BotError(EdubotError):
    """A refusal for the user. ``str()`` is the Simplified Chinese text to send back."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
