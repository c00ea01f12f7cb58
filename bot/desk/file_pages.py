"""A deadline's page, the files submitted for it (always as attachments), and the desk's
own static files (CSS, JavaScript, font: shipped in the package, no CDN)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from bot.desk import views
from bot.desk.auth import Refused, Viewer

if TYPE_CHECKING:
    from bot.desk.web import Desk

from pathlib import Path
from urllib.parse import quote

from starlette.responses import FileResponse

from storage.models import Deadline, Submission
from storage.submissions import deadline_by_key

STATIC = Path(__file__).with_name("static")
FONTS = Path(__file__).with_name("fonts")
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".otf": "font/otf"}


async def deadline(desk: Desk, request: Request) -> Response:
    """A deadline: who submitted what and when, versions, files, who is missing."""
    key = request.path_params["key"]
    now = desk.clock.now()

    def work(session: Session) -> tuple[Viewer, dict[str, Any]]:
        viewer = desk.viewer(session, request)
        if not viewer.sees_deadlines:
            raise Refused("材料提交情况只有组织者和领导可以查看。")
        deadline = deadline_by_key(session, key)
        if deadline is None or not deadline.active:
            raise Refused(f"没有找到材料“{key}”。", 404)
        return viewer, views.deadline_page(session, desk.settings, deadline, now)

    viewer, page = await desk.read(work)
    return desk.page("deadline.html", desk.base(viewer) | page)


async def download(desk: Desk, request: Request) -> Response:
    """A submitted file, always as an attachment with nosniff."""
    sub_id = int(request.path_params["id"])

    def work(session: Session) -> tuple[Path, str]:
        viewer = desk.viewer(session, request)
        if not viewer.sees_deadlines:
            raise Refused("提交的文件只有组织者和领导可以下载。")
        sub = session.get(Submission, sub_id)
        deadline = session.get(Deadline, sub.deadline_id) if sub else None
        if sub is None or deadline is None or not deadline.active or not sub.file_path:
            raise Refused("没有找到这个文件。", 404)
        root = desk.data_dir.resolve()
        path = (root / sub.file_path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise Refused("文件不在服务器上（可能已被清理）。", 404)
        return path, sub.file_name or path.name

    path, name = await desk.read(work)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=name,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def static(desk: Desk, request: Request) -> Response:
    """The desk's CSS, JavaScript and font: shipped in the package, no CDN."""
    name = request.path_params["name"]
    folder = FONTS if name.endswith(".otf") else STATIC
    path = folder / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise Refused("没有这个文件。", 404)
    response = FileResponse(path, media_type=STATIC_TYPES.get(path.suffix, "text/plain"))
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def attachment(content: bytes, name: str) -> Response:
    """``content`` as a download named ``name`` (any characters), never shown inline."""
    return Response(
        content,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=utf-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
        },
    )
