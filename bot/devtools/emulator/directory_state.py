"""What the emulated org directories know: members by mobile (``directory`` serves it)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bot.devtools.emulator.records import Platform


@dataclass
class Directory:
    """Members by mobile on each platform, and whether the app may look them up."""

    wecom: dict[str, str] = field(default_factory=dict)
    dingtalk: dict[str, str] = field(default_factory=dict)
    permitted: dict[str, bool] = field(default_factory=lambda: {"wecom": True, "dingtalk": True})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, platform: Platform, mobile: str, user_id: str) -> None:
        """A member of the org directory (tests call this)."""
        with self.lock:
            (self.wecom if platform == "wecom" else self.dingtalk)[mobile] = user_id

    def find(self, platform: Platform, mobile: str) -> str | None:
        """The member with this mobile, if any."""
        with self.lock:
            return (self.wecom if platform == "wecom" else self.dingtalk).get(mobile)
