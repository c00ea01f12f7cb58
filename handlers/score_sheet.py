"""The 成绩汇总表 itself (PRODUCT §4): CSV, and .xlsx in the 附件4 layout.

The writers are pure functions of a ``VenueTable`` and the audit trail; only
``export_venue`` touches the database, to load them. The workbook has three sheets:

- ``成绩汇总表`` (附件4): 姓名, 评委一得分（name）…, 平均成绩, 排名, in rank order;
- ``评分明细`` (附件3 per judge): every item score each judge gave;
- ``修改记录``: every revision of every sheet (score, correction, confirmation).

Means are written with exactly the rubric's decimals, already rounded half up (84.25 →
84.3): the Decimal becomes a float only at the cell, so the cell reads back as 84.3.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from handlers.errors import BotError
from handlers.rubric import fmt as score_text
from handlers.standings import VenueTable, dropped_note, result_value, venue_table
from handlers.venues import match_venue, venue_name
from storage.people import active_venues, venue_by_key
from storage.scores import AuditLine, audit_trail
from storage.venue_events import VenueEventLine, venue_events

SUMMARY_SHEET = "成绩汇总表"
DETAIL_SHEET = "评分明细"
AUDIT_SHEET = "修改记录"
FORMATS = ("csv", "xlsx")

ACTIONS = {
    "score": "评分",
    "correct": "更正",
    "confirm": "确认",
    "publish": "公布",
    "auto_publish": "自动公布",
    "unpublish": "撤销公布",
}
FONT_NAME = "宋体"  # SimSun: present wherever the 附件 are opened, renders every name
TOTAL_FORMAT = "General"  # 86 shows 86 and 85.5 shows 85.5 (no "86." as "0.##" would give)

_DIGITS = "零一二三四五六七八九"
_THIN = Side(style="thin")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
_FONT = Font(name=FONT_NAME, size=12)
_BOLD = Font(name=FONT_NAME, size=12, bold=True)
_TITLE = Font(name=FONT_NAME, size=16, bold=True)

Cell = str | int | float | None


# ── CSV ──────────────────────────────────────────────────────────────────────────────────


def csv_text(table: VenueTable) -> str:
    """The 附件4 table as CSV: its title, then ``姓名,评委一得分（申毅）,…,平均成绩（一位小数）,
    排名``, one contestant a row.

    Blank where a judge has not scored, where nobody scored (平均成绩) and where unranked.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    trimmed = _trimmed(table)
    writer.writerow([summary_title(table)])
    writer.writerow(summary_header(table))
    for row in table.standings:
        writer.writerow(
            [
                row.contestant,
                *("" if total is None else score_text(total) for total in row.totals),
                "" if row.result is None else result_value(table, row.result),
                "" if row.rank is None else str(row.rank),
                *([dropped_note(table, row)] if trimmed else []),
            ]
        )
    return buffer.getvalue()


# ── Labels ───────────────────────────────────────────────────────────────────────────────


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 23 → 二十三 (1–99; others as digits)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _DIGITS[ones]
    head = "" if tens == 1 else _DIGITS[tens]
    return f"{head}十{_DIGITS[ones] if ones else ''}"


def decimals_label(decimals: int) -> str:
    """How 附件4 names the precision of 平均成绩: 整数, 一位小数, 两位小数, 三位小数 …"""
    if decimals <= 0:
        return "整数"
    if decimals == 2:
        return "两位小数"
    return f"{chinese_number(decimals)}位小数"


def mean_format(decimals: int) -> str:
    """The Excel number format for 平均成绩: ``0``, ``0.0``, ``0.00`` …"""
    return "0" if decimals <= 0 else "0." + "0" * decimals


def summary_title(table: VenueTable) -> str:
    """``学校管理论坛·瑞泉中学会场成绩汇总表`` (附件4's “学校管理论坛 ____ 会场成绩汇总表”)."""
    if table.venue == table.title:  # a venue without a location is called by its title
        return f"{table.title}成绩汇总表"
    venue = table.venue if table.venue.endswith("会场") else f"{table.venue}会场"
    return f"{table.title}·{venue}成绩汇总表"


def summary_header(table: VenueTable) -> list[str]:
    """``姓名 | 评委一得分（申毅） | … | 平均成绩（一位小数） | 排名`` (+ ``备注`` naming the
    totals a trimmed mean left out, where the rubric trims)."""
    judges = [
        f"评委{chinese_number(i)}得分（{name}）" for i, name in enumerate(table.judges, start=1)
    ]
    mean = f"平均成绩（{decimals_label(table.rubric.decimals)}）"
    return ["姓名", *judges, mean, "排名", *(["备注"] if _trimmed(table) else [])]


def _trimmed(table: VenueTable) -> bool:
    return table.rubric.aggregate == "trimmed_mean"


def detail_header(table: VenueTable) -> list[str]:
    """``评委 | 选手 | 工作目标（20） | … | 总分``."""
    items = [f"{item.name}（{score_text(item.max)}）" for item in table.rubric.items]
    return ["评委", "选手", *items, "总分"]


AUDIT_HEADER = ["时间", "评委", "选手", "操作", "版本", "总分", "各项", "来源"]


def _number(value: Decimal) -> int | float:
    """A Decimal at the cell boundary: 86 stays an int, 85.5 becomes the float 85.5."""
    return int(value) if value == value.to_integral_value() else float(value)


# ── xlsx ─────────────────────────────────────────────────────────────────────────────────


def write_xlsx(
    table: VenueTable,
    audit: Sequence[AuditLine],
    path: Path,
    *,
    title: str | None = None,
    tz: ZoneInfo,
    now: datetime | None = None,
    events: Sequence[VenueEventLine] = (),
) -> Path:
    """Write the three-sheet workbook to ``path`` and return it.

    ``title`` is the title row (default ``summary_title(table)``); ``now`` is the 制表时间
    (default: the current time), shown in ``tz`` like every other time in the workbook.
    ``events`` (公布, 撤销公布) join the 修改记录 in time order.
    """
    made = now or datetime.now(UTC)
    workbook = Workbook()
    workbook.properties.created = made.astimezone(UTC).replace(tzinfo=None)
    workbook.properties.title = title or summary_title(table)
    summary = workbook.active
    assert summary is not None
    summary.title = SUMMARY_SHEET
    _fill_summary(summary, table, title or summary_title(table), made.astimezone(tz))
    _fill_detail(workbook.create_sheet(DETAIL_SHEET), table)
    _fill_audit(workbook.create_sheet(AUDIT_SHEET), audit, events, tz)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def _fill_summary(sheet: Worksheet, table: VenueTable, title: str, made: datetime) -> None:
    header = summary_header(table)
    width = len(header)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    top = sheet.cell(row=1, column=1, value=title)
    top.font = _TITLE
    top.alignment = _CENTRE
    sheet.row_dimensions[1].height = 30

    mean_fmt = mean_format(table.rubric.decimals)
    rows: list[list[Cell]] = []
    for standing in table.standings:
        rows.append(
            [
                standing.contestant,
                *(None if total is None else _number(total) for total in standing.totals),
                None if standing.result is None else float(standing.result),
                standing.rank,
                *([dropped_note(table, standing) or None] if _trimmed(table) else []),
            ]
        )
    _table(sheet, header, rows, first_row=2)
    mean_column = 2 + len(table.judges)
    for offset in range(len(rows)):
        row = 3 + offset
        for column in range(2, mean_column):
            sheet.cell(row=row, column=column).number_format = TOTAL_FORMAT
        sheet.cell(row=row, column=mean_column).number_format = mean_fmt
        sheet.cell(row=row, column=mean_column + 1).number_format = "0"

    # 评委签字 on the left, 制表时间 over the last two columns (the header has ≥ 3 columns).
    footer = 3 + len(rows) + 1  # one empty row between the table and the signatures
    split = width - 2
    sign = sheet.cell(row=footer, column=1, value="评委签字：")
    sign.font = _FONT
    sign.alignment = Alignment(vertical="center")
    stamp = sheet.cell(row=footer, column=split + 1, value=f"制表时间：{made:%Y-%m-%d %H:%M}")
    stamp.font = _FONT
    stamp.alignment = Alignment(horizontal="right", vertical="center")
    if split > 1:
        sheet.merge_cells(start_row=footer, start_column=1, end_row=footer, end_column=split)
    sheet.merge_cells(start_row=footer, start_column=split + 1, end_row=footer, end_column=width)
    sheet.row_dimensions[footer].height = 36

    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.print_title_rows = "1:2"


def _fill_detail(sheet: Worksheet, table: VenueTable) -> None:
    rows: list[list[Cell]] = []
    blank: list[Cell] = [None] * len(table.rubric.items)
    for judge in table.judges:
        for contestant in table.contestants:
            scores = table.sheets.get((contestant, judge))
            if scores is None:
                continue
            items = blank if scores.items is None else [_number(v) for v in scores.items]
            rows.append([judge, contestant, *items, _number(scores.total)])
    _table(sheet, detail_header(table), rows, first_row=1)
    _landscape(sheet)


def _fill_audit(
    sheet: Worksheet, audit: Sequence[AuditLine], events: Sequence[VenueEventLine], tz: ZoneInfo
) -> None:
    timed: list[tuple[datetime, list[Cell]]] = [
        (
            event.recorded_at,
            _event_row(event),
        )
        for event in events
    ]
    rows: list[list[Cell]] = [
        [
            f"{line.recorded_at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
            line.judge,
            line.contestant,
            ACTIONS.get(line.action, line.action),
            line.revision,
            _number(line.total),
            " ".join(score_text(Decimal(v)) for v in line.items or ()),
            line.source,
        ]
        for line in audit
    ]
    if timed:
        scored = [(line.recorded_at, row) for line, row in zip(audit, rows, strict=True)]
        merged = sorted([*scored, *timed], key=lambda pair: pair[0])
        rows = [[f"{at.astimezone(tz):%Y-%m-%d %H:%M:%S}", *row[1:]] for at, row in merged]
    _table(sheet, AUDIT_HEADER, rows, first_row=1)
    _landscape(sheet)


def _event_row(event: VenueEventLine) -> list[Cell]:
    """A 公布 / 撤销公布 line of the 修改记录 (its time is filled in with the others)."""
    action = ACTIONS.get(event.action, event.action)
    return [None, event.person, "（全会场）", action, None, None, None, event.source]


def _table(sheet: Worksheet, header: list[str], rows: list[list[Cell]], *, first_row: int) -> None:
    """A bordered, centred table with a bold header, frozen below it, columns sized to fit."""
    widths = [_display_width(text) for text in header]
    for column, text in enumerate(header, start=1):
        cell = sheet.cell(row=first_row, column=column, value=text)
        cell.font = _BOLD
        cell.alignment = _CENTRE
        cell.border = _BORDER
    for offset, values in enumerate(rows, start=1):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=first_row + offset, column=column, value=value)
            cell.font = _FONT
            cell.alignment = _CENTRE
            cell.border = _BORDER
            if value is not None:
                widths[column - 1] = max(widths[column - 1], _display_width(str(value)))
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = max(8, width + 4)
    sheet.freeze_panes = sheet.cell(row=first_row + 1, column=1)


def _landscape(sheet: Worksheet) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _display_width(text: str) -> int:
    """Columns a string takes in a fixed-width font: a Chinese character counts two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# ── Loading ──────────────────────────────────────────────────────────────────────────────


def export_venue(
    session: Session,
    venue_key: str,
    *,
    fmt: str,
    out: Path | None,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> tuple[str, Path | None]:
    """Export one venue by its config key.

    ``csv``: returns ``(text, None)``, or writes ``out`` (UTF-8 with BOM so Excel reads the
    Chinese) and returns ``(text, out)``. ``xlsx``: writes ``out`` (default
    ``./{venue_key}-成绩汇总表.xlsx``) and returns ``("", path)``. Raises ``BotError`` for an
    unknown venue or format.
    """
    if fmt not in FORMATS:
        raise BotError(f"不支持的导出格式“{fmt}”，请写：{'、'.join(FORMATS)}。")
    venue = venue_by_key(session, venue_key) or match_venue(active_venues(session), venue_key)
    if venue is None:
        known = "、".join(f"{f.key}（{venue_name(f)}）" for f in active_venues(session))
        fix = "请先在 [[venues]] 中设置会场"
        if known:
            fix = f"可用：{known}。请写其中之一（代号或会场名）"
        raise BotError(f"没有找到会场“{venue_key}”。{fix}。")
    table = venue_table(session, venue)
    if fmt == "csv":
        text = csv_text(table)
        if out is None:
            return text, None
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(text.encode("utf-8-sig"))
        return text, out
    path = out or Path(f"{venue_key}-成绩汇总表.xlsx")
    audit, events = audit_trail(session, venue.id), venue_events(session, venue.id)
    return "", write_xlsx(table, audit, path, tz=tz, now=now, events=events)
