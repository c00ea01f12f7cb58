"""Every exception edubot raises on purpose, in one tree (and where each is defined).

Each layer defines the errors it raises, so imports still run one way (bot → handlers →
storage); this module holds the runtime's and draws them all::

    EdubotError                 handlers.errors
     ├── BotError               handlers.errors: a refusal shown to the user verbatim;
     │                          nothing is recorded
     ├── ConfigError            bad config file: names the file, the key and the problem
     ├── RequestError           an inbound HTTP request we refuse (carries its status)
     │    ├── Forbidden         403: bad signature, stale timestamp, wrong receiver id
     │    ├── MalformedRequest  400: body or query we cannot parse
     │    └── PayloadTooLarge   413: body over the limit
     ├── DeliveryError          an outbound push failed
     │    ├── RetryableDelivery throttled, busy, 5xx, timeout: try again with backoff
     │    └── PermanentDelivery bad key, bad signature, dissolved group: stop, alert once
     └── LinkError              a long connection we opened ended (``bot.connections``)
          ├── LoginRefused      the platform refused our credentials: /healthz degraded,
          │                     retried with backoff
          ├── LinkDropped       closed, unreachable or silent: reconnect with backoff
          └── Superseded        the platform gave the robot to another connection

    StorageError                storage.errors
     ├── StorageUnavailable     the database is locked or unreachable: retry later (503)
     ├── RepeatDelivery         a platform's retry of a message already in the inbound log
     └── MissingDriver          a PostgreSQL/MySQL URL without its driver: names the extra
"""

from __future__ import annotations

from handlers.errors import EdubotError


class ConfigError(EdubotError):
    """The configuration is invalid. ``str()`` reads ``file: key: problem``."""

    def __init__(
        self, file: str, key: str, problem: str, *, more: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.problems: tuple[tuple[str, str], ...] = ((key, problem), *more)
        """Every ``(key, problem)`` found, this one first (check-config lists them all)."""
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class RequestError(EdubotError):
    """An inbound request we refuse. ``status`` is the HTTP status to answer."""

    status = 400

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Forbidden(RequestError):
    """Authentication failed: answer 403 and leave no trace but a log line."""

    status = 403


class MalformedRequest(RequestError):
    """The body or the query string cannot be parsed."""

    status = 400


class PayloadTooLarge(RequestError):
    """The body is larger than the configured limit."""

    status = 413


class DeliveryError(EdubotError):
    """Sending a push failed."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class RetryableDelivery(DeliveryError):
    """Throttled or transient: retry after ``retry_after`` seconds at the earliest."""

    def __init__(self, message: str, *, code: int | None = None, retry_after: float = 0.0) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code)


class PermanentDelivery(DeliveryError):
    """Will never succeed as configured (bad key, bad secret, dissolved group)."""


class LinkError(EdubotError):
    """A long connection to a platform ended; ``reason`` says why, for the log and /healthz."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class LoginRefused(LinkError):
    """The platform refused our credentials (wrong secret, unknown app or robot)."""


class LinkDropped(LinkError):
    """The socket closed, could not be opened, or went silent."""


class Superseded(LinkError):
    """The platform handed the robot to another connection (WeCom ``disconnected_event``)."""
