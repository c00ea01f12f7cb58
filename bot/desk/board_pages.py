"""The results board: the page a projector shows and the JSON it polls, opened by a
session or by a revocable projector link; and making and revoking those links.

Two hundred viewers polling one venue cost one ranking a second (``BOARD_CACHE_S``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.desk import views
from bot.desk.auth import Refused
from storage.desk import add_board_link, board_link_venue, revoke_board_link
from storage.models import Venue

if TYPE_CHECKING:
    from bot.desk.web import Desk

BOARD_CACHE_S = 1.0
BOARD_BUSY = 4.0

Finder = Callable[["Desk", Request, Session], Venue]


def _logged_in(desk: Desk, request: Request, session: Session) -> Venue:
    """The venue of the URL, for a session that may see it."""
    return desk.venue_for(session, desk.viewer(session, request), request.path_params["key"])


def _by_link(desk: Desk, request: Request, session: Session) -> Venue:
    """The venue of a projector link that still works."""
    return _projector_venue(desk, session, request.path_params["token"])


async def _page(desk: Desk, request: Request, find: Finder) -> Response:
    venue = await desk.read(lambda session: find(desk, request, session))
    data_url = quote(f"{request.url.path}.json")  # /desk/venues/K/board.json, /desk/b/T.json
    return desk.page("board.html", {"data_url": data_url, "title": venue.title})


async def _data(desk: Desk, request: Request, find: Finder) -> Response:
    data = await desk.read(lambda session: _board(desk, session, find(desk, request, session)))
    return JSONResponse(data)


async def board_page(desk: Desk, request: Request) -> Response:
    """The results board for someone logged in who may see the venue."""
    return await _page(desk, request, _logged_in)


async def board_data(desk: Desk, request: Request) -> Response:
    """What the board polls (logged in)."""
    return await _data(desk, request, _logged_in)


async def projector_page(desk: Desk, request: Request) -> Response:
    """The results board opened by a projector link: that venue's board and nothing else."""
    return await _page(desk, request, _by_link)


async def projector_data(desk: Desk, request: Request) -> Response:
    """What a projector's board polls."""
    return await _data(desk, request, _by_link)


def _projector_venue(desk: Desk, session: Session, token: str) -> Venue:
    nonce = desk.signer().board_nonce(token)
    venue = board_link_venue(session, nonce) if nonce else None
    if venue is None or not venue.active:
        raise Refused("这个看板链接无效或已被撤销：请主持人在聊天中发送“看板”获取新链接。")
    return venue


def _board(desk: Desk, session: Session, venue: Venue) -> dict[str, Any]:
    """The board's data, computed at most once a second per venue, and no more often than
    every ``BOARD_BUSY`` times what computing it took (a venue of thousands costs a second:
    its boards then update every few seconds instead of keeping a core busy)."""
    now = time.monotonic()
    with desk.board_lock:
        cached = desk.board_cache.get(venue.id)
    if cached is not None and now < cached[0]:
        return cached[1]
    data = views.board(session, desk.settings, venue)
    data["version"] = hashlib.sha256(
        json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()[:16]
    took = time.monotonic() - now
    with desk.board_lock:
        desk.board_cache[venue.id] = (now + max(BOARD_CACHE_S, BOARD_BUSY * took), data)
    return data


async def new_board_link(desk: Desk, request: Request) -> Response:
    """Make a projector link (organizers and the venue's host)."""
    return await _board_links(desk, request, revoke=None)


async def revoke_link(desk: Desk, request: Request) -> Response:
    """Revoke a projector link: the boards showing it stop updating."""
    return await _board_links(desk, request, revoke=int(request.path_params["id"]))


async def _board_links(desk: Desk, request: Request, revoke: int | None) -> Response:
    form = await desk.form(request)
    key = request.path_params["key"]
    now = desk.clock.now()

    def work(session: Session) -> str:
        viewer = desk.viewer(session, request)
        desk.check_csrf(viewer, form)
        venue = desk.venue_for(session, viewer, key)
        if not viewer.manages_boards(venue.id):
            raise Refused("只有组织者和本会场主持人可以生成或撤销看板链接。")
        if revoke is None:
            add_board_link(
                session,
                nonce=secrets.token_urlsafe(24),
                venue_id=venue.id,
                person_id=viewer.id,
                now=now,
            )
        elif not revoke_board_link(session, revoke, venue.id, person_id=viewer.id, now=now):
            raise Refused("没有找到这个看板链接（可能已撤销）。", 404)
        return venue.key

    venue_key = await desk.write(work)
    return RedirectResponse(f"/desk/venues/{quote(venue_key)}#links", status_code=303)
