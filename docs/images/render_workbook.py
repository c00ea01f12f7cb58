"""Render the workbook screenshots in docs/用户指南.md (chapter 八).

    .venv/bin/python docs/images/render_workbook.py

The workbook is what ``edubot template`` writes, filled by ``edubot export-config`` with
the example campaign (``config.example.toml``, seed 000). Each sheet shown is printed on its
own by LibreOffice (``soffice --headless --convert-to pdf``), then ``pdftoppm`` turns the
page into a PNG cropped to the table. Needs LibreOffice Calc, poppler-utils and a CJK font
(Debian: ``apt-get install libreoffice-calc-nogui poppler-utils fonts-wqy-microhei``).
"""

# A developer's script that runs two fixed local tools (soffice, pdftoppm) found on PATH.
# ruff: noqa: S603, S607

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bot.workbook.template import write_workbook  # noqa: E402
from bot.workbook.toml_file import config_rows  # noqa: E402

OUT = Path(__file__).resolve().parent
SHOTS = {"人员": "people", "会场": "venues", "评分表": "rubrics", "材料": "materials"}
COLUMNS_SHOWN = {"会场": 9}
"""A wide sheet shows its first columns (会场: the 附件1 ones), or it prints too small."""
ROWS_SHOWN = 10
DPI = "130"
MARGIN = 12
WHITE = 245
"""A gray level above this is paper."""


def main() -> int:
    """Write one PNG per sheet in ``SHOTS`` next to this script."""
    example = tomllib.loads((REPO / "config.example.toml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        book_path = folder / "活动.xlsx"
        write_workbook(book_path, config_rows(example))
        for sheet, name in SHOTS.items():
            pdf = _print_sheet(book_path, sheet, folder / f"{name}.xlsx")
            _to_png(pdf, OUT / f"workbook-{name}")
            print(f"docs/images/workbook-{name}.png")
    return 0


def _print_sheet(book_path: Path, sheet: str, single: Path) -> Path:
    """The sheet alone, landscape, one page wide, its first rows: as a PDF."""
    book = load_workbook(book_path)
    for other in [ws for ws in book.worksheets if ws.title != sheet]:
        book.remove(other)
    ws = book[sheet]
    ws.page_setup.orientation = "landscape"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.gridLines = True
    last = get_column_letter(COLUMNS_SHOWN.get(sheet, ws.max_column))
    ws.print_area = f"A1:{last}{min(ws.max_row, ROWS_SHOWN)}"
    book.save(single)
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(single.parent), single],
        check=True,
        capture_output=True,
    )
    return single.with_suffix(".pdf")


def _to_png(pdf: Path, stem: Path) -> None:
    """The first page as a PNG, cropped to what is printed on it."""
    gray = pdf.with_suffix("")
    page = ["-r", DPI, "-f", "1", "-l", "1", "-singlefile"]
    subprocess.run(["pdftoppm", *page, "-gray", str(pdf), str(gray)], check=True)
    x, y, w, h = _content(gray.with_suffix(".pgm"))
    box = ["-x", str(x), "-y", str(y), "-W", str(w), "-H", str(h)]
    subprocess.run(["pdftoppm", *page, *box, "-png", str(pdf), str(stem)], check=True)


def _content(pgm: Path) -> tuple[int, int, int, int]:
    """The box (x, y, width, height) around every non-white pixel of a binary PGM, plus a
    margin."""
    data = pgm.read_bytes()
    fields = data.split(maxsplit=4)  # P5, width, height, maxval, pixels
    width, height = int(fields[1]), int(fields[2])
    pixels = fields[4]
    ink = bytes(1 if level <= WHITE else 0 for level in range(256))
    left, right, top, bottom = width, 0, height, 0
    for row in range(height):
        line = pixels[row * width : (row + 1) * width].translate(ink)
        first = line.find(1)
        if first < 0:
            continue
        top, bottom = min(top, row), row
        left, right = min(left, first), max(right, line.rfind(1))
    left, top = max(left - MARGIN, 0), max(top - MARGIN, 0)
    right, bottom = min(right + MARGIN, width - 1), min(bottom + MARGIN, height - 1)
    return left, top, right - left + 1, bottom - top + 1


if __name__ == "__main__":
    sys.exit(main())
