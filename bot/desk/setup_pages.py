"""活动设置 (``/desk/setup``): the campaign workbook in and out, for organizers who never
open a terminal.

The same code as ``edubot template``, ``export-config`` and ``import`` (``bot.workbook``):
a workbook with mistakes gets every one listed and leaves the config file as it was; a
good one is written into the file (its other sections kept), and ``serve``'s reloader
(``bot.reloading``) applies it within ``[server] config_poll_seconds``. Every upload is
logged with the organizer's name and what came of it.
"""

from __future__ import annotations

import io
import logging
import tempfile
import threading
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from bot.config import load_settings
from bot.desk.auth import Refused, Viewer
from bot.desk.file_pages import attachment
from bot.errors import ConfigError, MalformedRequest, PayloadTooLarge
from bot.http_body import read_body
from bot.workbook.reading import Problem
from bot.workbook.template import write_workbook
from bot.workbook.toml_file import export_workbook, import_workbook, imported

if TYPE_CHECKING:
    from bot.desk.web import Desk

log = logging.getLogger("edubot.desk")

TEMPLATE = "template.xlsx"
CURRENT = "current.xlsx"
MAX_UPLOAD_MB = 5
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
_FORM_SLACK = 64 * 1024
"""The multipart envelope and the CSRF field around the file."""
_XLSX_MAGIC = b"PK\x03\x04"
"""An .xlsx is a zip archive."""
TOO_LARGE = f"文件太大：活动设置表不能超过 {MAX_UPLOAD_MB} MB。请删去多余的内容后重新上传。"
NOT_XLSX = "只能上传 .xlsx 格式的 Excel 表格（用本页“下载模板”或“下载当前设置”得到的表）。"
NO_FILE = "请先选择要上传的活动设置表（.xlsx）。"
_WRITING = threading.Lock()
"""One import at a time in this process: two at once would share the config's temp file."""
UNAVAILABLE = (
    "本服务没有从配置文件启动，无法在网页上导入或导出活动设置。"
    "请管理员用 edubot serve --config 配置文件 启动服务。"
)


def _organizer(desk: Desk, session: Session, request: Request) -> Viewer:
    viewer = desk.viewer(session, request)
    if not viewer.sets_up:
        raise Refused("活动设置只有组织者可以使用。")
    return viewer


def _context(desk: Desk, viewer: Viewer) -> dict[str, Any]:
    poll = desk.settings.server.config_poll_seconds
    return desk.base(viewer) | {
        "available": desk.config is not None,
        "unavailable": UNAVAILABLE,
        "template_url": f"/desk/setup/{TEMPLATE}",
        "current_url": f"/desk/setup/{CURRENT}",
        "max_mb": MAX_UPLOAD_MB,
        "applies": (
            f"正在运行的服务会在约 {poll:g} 秒内自动载入新设置，无需重启。"
            if poll > 0
            else "自动载入已关闭（config_poll_seconds = 0）：请管理员重启服务后生效。"
        ),
    }


async def setup(desk: Desk, request: Request) -> Response:
    """The page: two downloads and the upload form."""
    viewer = await desk.read(lambda session: _organizer(desk, session, request))
    return desk.page("setup.html", _context(desk, viewer))


async def template(desk: Desk, request: Request) -> Response:
    """The empty workbook, as ``edubot template`` writes it."""
    await desk.read(lambda session: _organizer(desk, session, request))
    out = io.BytesIO()
    await run_in_threadpool(write_workbook, out, {})
    return attachment(out.getvalue(), "活动设置模板.xlsx")


async def current(desk: Desk, request: Request) -> Response:
    """The config file's campaign as a workbook, as ``edubot export-config`` writes it."""
    viewer = await desk.read(lambda session: _organizer(desk, session, request))
    config = desk.config
    if config is None:
        raise Refused(UNAVAILABLE, 404)
    out = io.BytesIO()
    try:
        await run_in_threadpool(export_workbook, config, out)
    except ConfigError as exc:
        raise Refused(f"配置文件当前有错误，无法导出：{exc}", 409) from exc
    # The workbook carries the groups' robot webhooks and signing secrets: say who took it.
    log.info("desk setup: %s (person %d) downloaded the current campaign", viewer.name, viewer.id)
    return attachment(out.getvalue(), "当前活动设置.xlsx")


async def upload(desk: Desk, request: Request) -> Response:
    """Check an uploaded workbook as ``edubot import`` does; write it into the config file
    when it has no mistake."""
    viewer = await desk.read(lambda session: _organizer(desk, session, request))
    config = desk.config
    if config is None:
        raise Refused(UNAVAILABLE, 404)
    try:
        form = await _multipart(request)
        try:
            csrf = form.get("csrf")
            desk.check_csrf(viewer, {"csrf": csrf if isinstance(csrf, str) else ""})
            name, content = await _workbook(form.get("workbook"))
        finally:
            await form.close()
    except Refused as exc:  # a CSRF failure, no file, too large: refused uploads are noted too
        log.info("desk setup: %s (person %d) upload refused: %s", viewer.name, viewer.id, exc)
        raise
    problems, summary = await run_in_threadpool(_import, content, name, config)
    outcome = f"into {config}: {summary}" if summary else f"{len(problems)} mistakes, unwritten"
    log.info("desk setup: %s (person %d) uploaded %s: %s", viewer.name, viewer.id, name, outcome)
    result = {"name": name, "problems": [str(p) for p in problems], "summary": summary}
    return desk.page("setup.html", _context(desk, viewer) | result, 422 if problems else 200)


async def _multipart(request: Request) -> FormData:
    """The form, its body read up to the limit first (a larger one is refused, unread)."""
    try:
        body = await read_body(request, MAX_UPLOAD_BYTES + _FORM_SLACK)
    except PayloadTooLarge as exc:
        raise Refused(TOO_LARGE, 413) from exc
    except MalformedRequest as exc:
        raise Refused("上传中断，请重新上传。", 400) from exc
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=1, max_fields=8)
    except (HTTPException, MultiPartException) as exc:
        raise Refused(f"上传的表单无法读取，请重新选择文件上传。（{exc}）", 400) from exc


async def _workbook(field: UploadFile | str | None) -> tuple[str, bytes]:
    """The uploaded file's name (as shown, no folders) and bytes, if it is an .xlsx."""
    if not isinstance(field, UploadFile) or not field.filename:
        raise Refused(NO_FILE, 400)
    shown = "".join(c for c in PureWindowsPath(field.filename).name if c.isprintable())
    name = shown[-60:] or "活动设置.xlsx"  # 60 characters fit any file system's 255 bytes
    content = await field.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise Refused(TOO_LARGE, 413)
    if not name.lower().endswith(".xlsx") or not content.startswith(_XLSX_MAGIC):
        raise Refused(NOT_XLSX, 400)
    return name, content


def _import(content: bytes, name: str, config: Path) -> tuple[list[Problem], str]:
    """``edubot import`` on the uploaded bytes: its mistakes, or what was imported."""
    with _WRITING, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            problems = import_workbook(path, config)
        except OSError as exc:  # the config file cannot be written: nothing changed
            return [Problem(f"配置文件 {config.name}", None, "", f"无法写入（{exc}）")], ""
    if problems:
        return problems, ""
    return [], imported(load_settings(config))
