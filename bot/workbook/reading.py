"""Reading a filled workbook into rows, by each sheet's own headers (column order is free).

Every unreadable cell, blank required cell and missing sheet or column becomes a ``Problem``;
reading never stops at the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zipfile import ZipFile

from openpyxl import load_workbook

from bot.workbook.cells import CellError, cell_text, read_cell
from bot.workbook.sheets import EXAMPLE_MARK, NOTE, SHEETS, Sheet

_HEADER_SCAN = 10
"""The header row is looked for in this many rows at the top of a sheet."""


@dataclass(frozen=True)
class Problem:
    """One mistake in the workbook: ``会场 第4行 评委：“张伟力”不在人员表中``."""

    sheet: str
    row: int | None
    column: str
    text: str

    def __str__(self) -> str:
        where = self.sheet + (f" 第{self.row}行" if self.row is not None else "")
        return f"{where} {self.column}：{self.text}" if self.column else f"{where}：{self.text}"


@dataclass
class Row:
    """One data row: its sheet, its row number in Excel and the config values read."""

    sheet: str
    number: int
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reading:
    """Everything read from a workbook: the rows of each sheet and every problem found."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


MAX_UNPACKED_BYTES = 50 * 1024 * 1024
"""An xlsx is a zip: a campaign's workbook unpacks to well under a megabyte, and one that
would unpack to more than this is refused before it is read (it may be built to fill the
memory of whoever opens it)."""


def read_workbook(path: Path) -> Reading:
    """Read every sheet of the workbook at ``path``."""
    try:
        with ZipFile(path) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            mb, cap = unpacked // 2**20, MAX_UNPACKED_BYTES // 2**20
            why = f"表格过大（解压后有 {mb} MB，超过 {cap} MB），请只保留模板里的工作表"
            return Reading(problems=[Problem(path.name, None, "", why)])
        book = load_workbook(path, data_only=True, read_only=True)
    except Exception as exc:
        # A file that is not an xlsx (InvalidFileException is a ValueError), a damaged one.
        return Reading(problems=[Problem(path.name, None, "", f"无法打开（{exc}）")])
    reading = Reading()
    for sheet in SHEETS:
        if sheet.name not in book.sheetnames:
            reading.problems.append(Problem(sheet.name, None, "", "缺少这张工作表"))
            reading.rows[sheet.name] = []
            continue
        grid = [list(r) for r in book[sheet.name].iter_rows(values_only=True)]
        reading.rows[sheet.name] = _read_sheet(sheet, grid, reading.problems)
    book.close()
    return reading


def _header_row(sheet: Sheet, grid: list[list[Any]]) -> tuple[int, dict[str, int]] | None:
    """(index, header → column index) of the first row holding the sheet's first header."""
    first = sheet.columns[0].header
    for i, cells in enumerate(grid[:_HEADER_SCAN]):
        texts = [cell_text(c) for c in cells]
        if first in texts:
            return i, {t: j for j, t in enumerate(texts) if t}
    return None


def _read_sheet(sheet: Sheet, grid: list[list[Any]], problems: list[Problem]) -> list[Row]:
    found = _header_row(sheet, grid)
    if found is None:
        first = sheet.columns[0].header
        problems.append(Problem(sheet.name, None, "", f"找不到表头（应有“{first}”列）"))
        return []
    index, where = found
    for column in sheet.columns:
        if column.required and column.header not in where:
            problems.append(Problem(sheet.name, None, "", f"缺少必填列“{column.header}”"))
    rows: list[Row] = []
    for i, cells in enumerate(grid[index + 1 :], start=index + 2):
        texts = {h: cells[j] if j < len(cells) else None for h, j in where.items()}
        if all(cell_text(v) == "" for v in texts.values()):
            continue
        if cell_text(texts.get(NOTE)).startswith(EXAMPLE_MARK):
            continue
        rows.append(_read_row(sheet, i, texts, problems))
    return rows


def _read_row(sheet: Sheet, number: int, cells: dict[str, Any], problems: list[Problem]) -> Row:
    row = Row(sheet.name, number)
    for column in sheet.columns:
        if column.header not in cells:
            continue
        try:
            value = read_cell(column.kind, cells[column.header])
        except CellError as exc:
            problems.append(Problem(sheet.name, number, column.header, str(exc)))
            continue
        if value is None or value == []:
            if column.required:
                problems.append(Problem(sheet.name, number, column.header, "必填，不能为空"))
            continue
        row.values[column.field] = value
    return row
