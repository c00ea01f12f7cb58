"""The venue page, its ranking picture and its 成绩汇总表 download."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from bot.desk import views
from bot.desk.auth import Viewer
from bot.desk.file_pages import attachment
from storage.models import Venue

if TYPE_CHECKING:
    from bot.desk.web import Desk

import tempfile
from dataclasses import replace
from pathlib import Path

from bot.desk.ranking_image import table_png
from bot.desk.tokens import DeskTokens
from handlers.score_sheet import export_venue
from handlers.standings import venue_table


async def venue(desk: Desk, request: Request) -> Response:
    """A venue: matrix, outliers, ranking, audit, downloads, projector links."""
    now = desk.clock.now()
    key = request.path_params["key"]

    def work(session: Session) -> tuple[Viewer, dict[str, Any]]:
        viewer = desk.viewer(session, request)
        venue = desk.venue_for(session, viewer, key)
        rows = None if request.query_params.get("all") == "1" else views.PAGE_ROWS
        return viewer, views.venue_page(session, desk.settings, viewer, venue, now, rows=rows)

    viewer, page = await desk.read(work)
    links = [
        (
            link,
            _here(desk, request).board_url(link.nonce),
            views.when(link.created_at, desk.settings, now),
        )
        for link in page.pop("links")
    ]
    return desk.page("venue.html", desk.base(viewer) | page | {"links": links})


async def image(desk: Desk, request: Request) -> Response:
    """The ranking picture (the one pushed on 公布)."""
    key = request.path_params["key"]

    def work(session: Session) -> bytes:
        viewer = desk.viewer(session, request)
        venue = desk.venue_for(session, viewer, key)
        return venue_png(session, venue)

    png = await desk.read(work)
    return Response(png, media_type="image/png")


async def export(desk: Desk, request: Request) -> Response:
    """The 成绩汇总表 as .xlsx, as an attachment."""
    key = request.path_params["key"]
    now = desk.clock.now()

    def work(session: Session) -> tuple[str, bytes]:
        viewer = desk.viewer(session, request)
        venue = desk.venue_for(session, viewer, key)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / f"{venue.key}-成绩汇总表.xlsx"
            export_venue(session, venue.key, fmt="xlsx", out=out, tz=desk.settings.tz, now=now)
            return out.name, out.read_bytes()

    name, content = await desk.read(work)
    return attachment(content, name)


def _here(desk: Desk, request: Request) -> DeskTokens:
    """The signer with the configured desk address, else the address this page came from
    (right on the office network and in the demo, whose port is chosen at start)."""
    configured = desk.settings.desk.url or desk.settings.server.public_url
    return replace(desk.signer(), base_url=(configured or str(request.base_url)).rstrip("/"))


def venue_png(session: Session, venue: Venue) -> bytes:
    """The ranking picture of ``venue`` as it stands."""
    table = venue_table(session, venue)
    if venue.published_at is not None:
        state = "已公布"
    elif table.complete:
        state = "评分已完成，待公布"
    else:
        state = f"评分中（已评 {table.scored}/{table.expected}）"
    return table_png(table, f"{venue.title}·{table.venue}", state)
