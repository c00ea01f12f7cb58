"""How long to wait before the next connection attempt: exponential, capped, jittered."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``base`` doubled per failed attempt up to ``cap``, each wait drawn from its upper
    half so that many instances cut off together do not reconnect in step."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after ``attempt`` failures in a row (0 = the first retry)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 32))
        return max(self.base, ceiling * rng.uniform(0.5, 1.0))
