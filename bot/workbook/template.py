"""Writing the workbook: instructions, headers, an example row, then the rows given.

``write_workbook(path, {})`` is the empty template (``edubot template``); export passes the
config's rows (``bot.workbook.toml_file.config_rows``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from bot.workbook.sheets import EXAMPLE_MARK, NOTE, SHEETS, Sheet

HEADER_ROW = 2
"""Row 1 holds the instructions; import finds the headers wherever they are."""
FIRST_DATA_ROW = HEADER_ROW + 2
"""After the example row."""
_MAX_ROWS = 500
"""How far down the drop-downs reach."""
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_EXAMPLE_FONT = Font(italic=True, color="808080")
_REQUIRED_FONT = Font(bold=True, color="C00000")


def write_workbook(path: Path | BinaryIO, rows: Mapping[str, Sequence[Sequence[str]]]) -> None:
    """Write every sheet to ``path`` (a file, or a stream such as a download's buffer):
    instructions, headers, example, then ``rows[sheet]``."""
    book = Workbook()
    book.remove(book.active)
    for sheet in SHEETS:
        _write_sheet(book.create_sheet(sheet.name), sheet, rows.get(sheet.name, ()))
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def _write_sheet(ws: Worksheet, sheet: Sheet, rows: Sequence[Sequence[str]]) -> None:
    width = len(sheet.columns) + 1
    rules = f"  加粗红字的列必填；“{NOTE}”以“{EXAMPLE_MARK}”开头的行不导入。"
    ws.cell(1, 1, sheet.instructions + rules)
    ws.cell(1, 1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.row_dimensions[1].height = 75
    headers = [c.header for c in sheet.columns] + [NOTE]
    for col, header in enumerate(headers, start=1):
        cell = ws.cell(HEADER_ROW, col, header)
        cell.fill = _HEADER_FILL
        required = col <= len(sheet.columns) and sheet.columns[col - 1].required
        cell.font = _REQUIRED_FONT if required else Font(bold=True)
    example = [*sheet.example, f"{EXAMPLE_MARK}，导入时跳过，可删除"]
    for col, text in enumerate(example, start=1):
        ws.cell(HEADER_ROW + 1, col, text).font = _EXAMPLE_FONT
    for r, row in enumerate(rows, start=FIRST_DATA_ROW):
        for col, text in enumerate(row, start=1):
            if text:
                ws.cell(r, col, text)
    for col, column in enumerate(sheet.columns, start=1):
        ws.column_dimensions[get_column_letter(col)].width = column.width
        if column.choices:
            _drop_down(ws, col, column.choices)
    ws.column_dimensions[get_column_letter(width)].width = 24
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, 1)


def _drop_down(ws: Worksheet, col: int, choices: Sequence[str]) -> None:
    # A warning, not a stop: a person may have several roles ("评委、主持").
    rule = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        errorStyle="warning",
        error="请从列表中选择（多个角色用顿号隔开）",
    )
    letter = get_column_letter(col)
    rule.add(f"{letter}{HEADER_ROW + 1}:{letter}{_MAX_ROWS}")
    ws.add_data_validation(rule)
