"""``Check``: one line of ``edubot doctor``'s report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "bad", "skip"]
_MARKS = {"ok": "✓", "bad": "✗", "skip": "–"}


@dataclass(frozen=True)
class Check:
    """One line of the report: the item, how it went, what was seen and how to fix it."""

    item: str
    status: Status
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        """``✗ 企业微信凭据：… → 处理：…``."""
        text = f"{_MARKS[self.status]} {self.item}" + (f"：{self.detail}" if self.detail else "")
        return text + (f" → 处理：{self.fix}" if self.fix and self.status == "bad" else "")
