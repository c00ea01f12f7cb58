"""``outbox_attempts``: every request made to a robot, answered or not, for its rate window.

The platforms count requests, not successes: a push that failed and is retried, or one
refused for a bad key, used up one of the robot's 20 a minute just like one delivered. One
row per request (its robot and when it started), written in the same transaction as the
push's outcome, so every instance's claims see it; rows older than the window are pruned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class OutboxAttempt(Base):
    """One request to the robot ``rate_key`` that started at ``attempted_at``."""

    __tablename__ = "outbox_attempts"
    __table_args__ = (Index("ix_outbox_attempts_key_at", "rate_key", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rate_key: Mapped[str] = mapped_column(String(191))
    attempted_at: Mapped[datetime] = mapped_column(index=True)
