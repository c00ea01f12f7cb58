"""The errors storage raises on purpose. The whole tree is drawn in ``bot.errors``."""

from __future__ import annotations


class StorageError(Exception):
    """Base of the errors storage raises on purpose."""


class StorageUnavailable(StorageError):
    """The database did not answer in time; the platform should retry the delivery."""


class WriterBusy(StorageUnavailable):
    """SQLite's write lock is held by a writer outside edubot's writers' queue (an
    operator's ``sqlite3`` shell, say), met by a caller that must not wait for it (the
    event loop): it hands the work to a thread, which waits its busy timeout."""


class RepeatDelivery(StorageError):
    """This (platform, message id) is already in the inbound log: a platform's retry."""


class MissingDriver(StorageError):
    """The database URL needs a driver that is not installed (an extra of edubot)."""
