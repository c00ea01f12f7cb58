"""The ranking as a picture: a table readable on a phone, drawn with Pillow in the font the
package ships (``fonts/NotoSansSC-GB2312.otf``), never a font the server may lack.

Pushed with the result on 公布 where the platform takes images (WeCom group robot
``image``: PNG ≤ 2 MB) and shown on the venue page. A venue with very many contestants is
cut after ``MAX_ROWS`` lines with a note; the full table is in the 成绩汇总表.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.desk.views import RankRow, ranking_rows
from handlers.standings import VenueTable

FONT = Path(__file__).with_name("fonts") / "NotoSansSC-GB2312.otf"
MAX_ROWS = 40
WIDTH = 900
PAD = 28
ROW = 54
MEDALS = {"1": "#d4a017", "2": "#8a8f99", "3": "#b8733b"}


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, size: int) -> str:
    """``text`` shortened with … to fit ``width`` pixels."""
    font = _font(size)
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def ranking_png(title: str, subtitle: str, judges: Sequence[str], rows: Sequence[RankRow]) -> bytes:
    """A PNG of the ranking: rank, name, result and each judge's total."""
    shown = list(rows[:MAX_ROWS])
    cut = len(rows) - len(shown)
    judge_w = 86 if len(judges) <= 5 else max(56, 430 // max(1, len(judges)))
    width = max(WIDTH, 2 * PAD + 80 + 300 + 120 + judge_w * len(judges))
    height = PAD * 2 + 120 + ROW * (len(shown) + 1) + (40 if cut else 0) + 30
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), _fit(draw, title, width - 2 * PAD, 36), font=_font(36), fill="#1a1a1a")
    draw.text(
        (PAD, PAD + 52), _fit(draw, subtitle, width - 2 * PAD, 22), font=_font(22), fill="#666666"
    )
    top = PAD + 110
    columns = [("名次", PAD, 80), ("选手", PAD + 80, 300), ("成绩", PAD + 380, 120)]
    columns += [(name, PAD + 500 + i * judge_w, judge_w) for i, name in enumerate(judges)]
    draw.rectangle((0, top, width, top + ROW), fill="#1f4e79")
    for name, x, w in columns:
        draw.text((x + 6, top + 14), _fit(draw, name, w - 10, 22), font=_font(22), fill="white")
    for index, row in enumerate(shown, start=1):
        y = top + ROW * index
        if index % 2 == 0:
            draw.rectangle((0, y, width, y + ROW), fill="#f2f5f9")
        colour = MEDALS.get(row.rank, "#1a1a1a")
        cells = [row.rank, row.name, row.result, *row.totals]
        for (_, x, w), text in zip(columns, cells, strict=False):
            size = 26 if x < PAD + 500 else 22
            fill = colour if x == PAD else ("#1f4e79" if x == PAD + 380 else "#1a1a1a")
            draw.text((x + 6, y + 12), _fit(draw, text, w - 10, size), font=_font(size), fill=fill)
    y = top + ROW * (len(shown) + 1) + 10
    if cut:
        draw.text(
            (PAD, y),
            f"另有 {cut} 位选手未列出，完整名单见成绩汇总表。",
            font=_font(20),
            fill="#666666",
        )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def table_png(table: VenueTable, heading: str, state: str = "") -> bytes:
    """A venue table as a picture, headed ``heading`` (what 公布 pushes)."""
    subtitle = f"{len(table.judges)} 位评委 × {len(table.contestants)} 位选手"
    subtitle += f" · {state}" if state else ""
    return ranking_png(heading, subtitle, table.judges, ranking_rows(table))
