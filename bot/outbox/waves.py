"""What one drain pass claimed, and how it is cut into waves: pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from handlers.messages import OutboundMessage

WAVE = 16
"""The most pushes sent before their ``sent`` marks are written (one transaction per wave),
and so the most a crash can send twice."""


@dataclass(frozen=True, slots=True)
class DrainStats:
    """What one drain pass did with the pushes it looked at."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def handled(self) -> int:
        """Every push the pass settled one way or another."""
        return self.sent + self.retried + self.failed + self.dropped


@dataclass(frozen=True, slots=True)
class Claimed:
    """A push this instance claimed and leased, ready to send."""

    id: int
    dedupe_key: str
    reason: str
    rate_key: str
    message: OutboundMessage
    attempts: int


def plan_waves(claimed: list[Claimed], *, parallel: bool) -> Iterator[list[Claimed]]:
    """The claimed rows in waves of at most ``WAVE`` and at most one row per robot, each
    robot's rows in claim order. One row per robot means a crash before a wave's mark
    re-sends at most one push to any group.

    In order (one thread): runs of consecutive rows, a run ending before a robot it
    already holds, so the claim order is the send order. In parallel: the next row of
    each robot, so one robot's rows never race each other.
    """
    if not parallel:
        run: list[Claimed] = []
        for row in claimed:
            if len(run) == WAVE or any(r.rate_key == row.rate_key for r in run):
                yield run
                run = []
            run.append(row)
        if run:
            yield run
        return
    rest = claimed
    while rest:
        wave: list[Claimed] = []
        later: list[Claimed] = []
        robots: set[str] = set()
        for row in rest:
            if len(wave) < WAVE and row.rate_key not in robots:
                robots.add(row.rate_key)
                wave.append(row)
            else:
                later.append(row)
        yield wave
        rest = later
