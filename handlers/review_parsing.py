"""The words of 退回 / 通过 / 免交 / 延期: ``<单位> <材料名> [期] [原因或日期]``.

``退回 尚德中学 书面报告 请补充整改时间表``, ``通过 杜桥中学 周报 第2周``,
``延期 尚德中学 周报 3月12日``. The unit is the first word and the material the second; a
period word (第2周, 3月) right after the material belongs to it; the rest is the note.
"""

from __future__ import annotations

from handlers.commands import Review
from handlers.periods import looks_like_period

REVIEW_ACTIONS = ("returned", "accepted", "exempted", "extended")
"""The review commands' actions: 退回, 通过/确认, 免交, 延期."""
_SEPARATORS = str.maketrans({"，": " ", ",": " ", "：": " ", ":": " "})


def parse_review(action: str, rest: str) -> Review:
    """Read the words after the command; missing words stay ``""`` (the handler asks)."""
    words = rest.translate(_SEPARATORS).split()
    owner = words[0] if words else ""
    material = words[1] if len(words) > 1 else ""
    more = words[2:]
    # 延期 ends with a date, which may look like a period (3月12日): there a period needs
    # one more word after it, and a day of the month is always the date.
    needed = 2 if action == "extended" else 1
    dated = action == "extended" and bool(more) and more[0].endswith("日")
    if len(more) >= needed and looks_like_period(more[0]) and not dated:
        material, more = f"{material} {more[0]}", more[1:]
    return Review(action, owner, material, " ".join(more))
