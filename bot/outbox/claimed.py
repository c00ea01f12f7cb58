"""What a drain pass claimed, and what it did with it: plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handlers.messages import OutboundMessage
from storage.outbox_intent import Intent


@dataclass(frozen=True, slots=True)
class DrainStats:
    """What one drain pass did with the pushes it looked at. ``started`` counts pushes handed
    to robots' lanes that were still under way when the pass returned (``edubot serve``)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    started: int = 0

    @property
    def handled(self) -> int:
        """Every push the pass settled one way or another, or set going."""
        return self.sent + self.retried + self.failed + self.dropped + self.started

    def __add__(self, other: DrainStats) -> DrainStats:
        return DrainStats(
            self.sent + other.sent,
            self.retried + other.retried,
            self.failed + other.failed,
            self.dropped + other.dropped,
            self.started + other.started,
        )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A push this instance claimed and leased (until ``leased_until``), ready to send."""

    id: int
    dedupe_key: str
    intent: Intent
    rate_key: str
    message: OutboundMessage
    attempts: int
    leased_until: datetime
