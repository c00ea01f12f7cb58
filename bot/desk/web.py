"""The desk's routes under ``/desk/``: Starlette endpoints that check the session and the
role on the server, then render a template from ``bot.desk.views``.

Every response carries a strict Content-Security-Policy (scripts and styles only from the
desk itself), ``X-Content-Type-Options: nosniff`` and no Referer. Submitted files are
served as attachments, never inline, so an uploaded .html or .svg cannot run in the desk's
origin. Database work runs in a worker thread, like the callbacks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Route

from bot.clock import Clock
from bot.config import Settings
from bot.desk import board_pages, file_pages, setup_pages, venue_pages, views
from bot.desk.auth import Refused, Viewer, viewer_of
from bot.desk.tokens import COOKIE, DeskTokens
from storage.db import reading, transaction
from storage.desk import (
    end_login,
    login_state,
    use_login,
)
from storage.errors import StorageUnavailable
from storage.models import Venue
from storage.people import venue_by_key

log = logging.getLogger("edubot.desk")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "font-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
}


Endpoint = Callable[[Request], Awaitable[Response]]


class Desk:
    """The desk's endpoints over one database, clock and config."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        clock: Clock,
        *,
        config: Path | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        """The config file 活动设置 exports and imports; None: uploads are unavailable."""
        self.factory = factory
        self.clock = clock
        self.tokens = DeskTokens.of(settings)
        self.data_dir = Path(settings.server.data_dir)
        self.templates = Environment(
            loader=PackageLoader("bot.desk", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.board_cache: dict[int, tuple[float, dict[str, Any]]] = {}
        self.board_lock = threading.Lock()

    # --- plumbing ------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The desk's routes, mounted by ``bot.app``."""

        def r(page: Callable[[Desk, Request], Awaitable[Response]]) -> Endpoint:
            return self._endpoint(partial(page, self))

        return [
            Route("/desk/", r(Desk.home), methods=["GET"]),
            Route("/desk/login", r(Desk.login_page), methods=["GET"]),
            Route("/desk/login", r(Desk.login), methods=["POST"]),
            Route("/desk/logout", r(Desk.logout), methods=["POST"]),
            Route("/desk/sheets", r(Desk.sheets), methods=["GET"]),
            Route("/desk/venues/{key}", r(venue_pages.venue), methods=["GET"]),
            Route("/desk/venues/{key}/ranking.png", r(venue_pages.image), methods=["GET"]),
            Route("/desk/venues/{key}/成绩汇总表.xlsx", r(venue_pages.export), methods=["GET"]),
            Route("/desk/venues/{key}/board", r(board_pages.board_page), methods=["GET"]),
            Route("/desk/venues/{key}/board.json", r(board_pages.board_data), methods=["GET"]),
            Route(
                "/desk/venues/{key}/board-links", r(board_pages.new_board_link), methods=["POST"]
            ),
            Route(
                "/desk/venues/{key}/board-links/{id:int}/revoke",
                r(board_pages.revoke_link),
                methods=["POST"],
            ),
            Route("/desk/b/{token}.json", r(board_pages.projector_data), methods=["GET"]),
            Route("/desk/b/{token}", r(board_pages.projector_page), methods=["GET"]),
            Route("/desk/deadlines/{key}", r(file_pages.deadline), methods=["GET"]),
            Route("/desk/files/{id:int}", r(file_pages.download), methods=["GET"]),
            Route("/desk/static/{name}", r(file_pages.static), methods=["GET"]),
            Route("/desk/setup", r(setup_pages.setup), methods=["GET"]),
            Route("/desk/setup", r(setup_pages.upload), methods=["POST"]),
            Route(f"/desk/setup/{setup_pages.TEMPLATE}", r(setup_pages.template), methods=["GET"]),
            Route(f"/desk/setup/{setup_pages.CURRENT}", r(setup_pages.current), methods=["GET"]),
        ]

    def _endpoint(self, handler: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                if self.tokens is None:
                    raise Refused(
                        "网页后台尚未开启：请管理员在配置文件 [server] 中设置 link_secret。", 404
                    )
                response = await handler(request)
            except Refused as exc:
                log.info("desk %d %s: %s", exc.status, request.url.path, exc.message)
                response = self.page("message.html", {"message": exc.message}, exc.status)
            except StorageUnavailable as exc:
                log.error("desk 503 %s: %s", request.url.path, exc)
                response = self.page(
                    "message.html", {"message": "数据库暂时不可用，请稍后刷新。"}, 503
                )
            except Exception:
                log.exception("desk failure on %s %s", request.method, request.url.path)
                response = self.page(
                    "message.html", {"message": "页面暂时无法显示，请稍后刷新。"}, 503
                )
            for name, value in HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return run

    def page(self, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        """Render a template (autoescaped) as the response."""
        html = self.templates.get_template(name).render(
            context | {"poll_s": self.settings.desk.board_poll_s}
        )
        return HTMLResponse(html, status_code=status)

    def signer(self) -> DeskTokens:
        """The link and cookie signer (the desk answers nothing without one)."""
        assert self.tokens is not None  # _endpoint refuses every request without it
        return self.tokens

    def viewer(self, session: Session, request: Request) -> Viewer:
        """The session's viewer, or a refusal: no cookie, tampered, expired, logged out,
        or the person left the config."""
        cookie = request.cookies.get(COOKIE, "")
        nonce = self.signer().session_nonce(cookie, self.clock.now()) if cookie else None
        state = login_state(session, nonce) if nonce else None
        if nonce is None or state is None or state.used_at is None or state.ended_at is not None:
            raise Refused("未登录或登录已过期：请在与机器人的私聊中发送“后台”获取新的登录链接。")
        viewer = viewer_of(session, state.person_id, nonce) if state.person_active else None
        if viewer is None:
            raise Refused("您已不在本活动的人员名单中，登录已失效。如有疑问请联系组织者。")
        return viewer

    def read(self, work: Callable[[Session], Any]) -> Awaitable[Any]:
        """Run ``work`` in a worker thread in a read-only session (no writer's turn)."""

        def run() -> Any:
            with reading(self.factory) as session:
                return work(session)

        return run_in_threadpool(run)

    def write(self, work: Callable[[Session], Any]) -> Awaitable[Any]:
        """Run ``work`` in a worker thread in one committed transaction."""

        def run() -> Any:
            with transaction(self.factory) as session:
                return work(session)

        return run_in_threadpool(run)

    async def form(self, request: Request) -> dict[str, str]:
        """A small urlencoded form's fields."""
        body = await request.body()
        if len(body) > 8192:
            raise Refused("表单内容过长。", 413)
        fields = parse_qs(body.decode("utf-8", "replace"))
        return {k: v[0] for k, v in fields.items() if v}

    def check_csrf(self, viewer: Viewer, form: dict[str, str]) -> None:
        """Refuse a form without this session's CSRF token."""
        if not self.signer().csrf_ok(viewer.login, form.get("csrf", "")):
            raise Refused("表单已失效（缺少或错误的校验码）：请刷新页面后再试。")

    def base(self, viewer: Viewer) -> dict[str, Any]:
        """What every logged-in page's template needs (header, forms)."""
        return {"viewer": viewer, "csrf": self.signer().csrf_token(viewer.login)}

    def venue_for(self, session: Session, viewer: Viewer, key: str) -> Venue:
        """The active venue ``key`` if the viewer may see it, else a refusal."""
        venue = venue_by_key(session, key)
        if venue is None or not venue.active:
            raise Refused(f"没有找到会场“{key}”。", 404)
        if not viewer.sees_venue(venue.id):
            raise Refused("您没有查看这个会场的权限：主持人只能查看自己主持的会场。")
        return venue

    # --- login ---------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        """The page a login link opens: it only asks for a confirmation (a POST), so a chat
        app fetching the link for a preview cannot use it up."""
        token = request.query_params.get("t", "")
        if self.signer().login_nonce(token, self.clock.now()) is None:
            raise Refused("登录链接无效或已过期：请在与机器人的私聊中重新发送“后台”。")
        return self.page("login.html", {"token": token})

    async def login(self, request: Request) -> Response:
        """Use the link once and open a session in a signed, HttpOnly, SameSite cookie."""
        form = await self.form(request)
        now = self.clock.now()
        nonce = self.signer().login_nonce(form.get("t", ""), now)
        if nonce is None:
            raise Refused("登录链接无效或已过期：请在与机器人的私聊中重新发送“后台”。")
        address = request.client.host if request.client else ""
        agent = request.headers.get("user-agent", "")

        def work(session: Session) -> int | None:
            return use_login(session, nonce, now=now, address=address, agent=agent)

        person = await self.write(work)
        if person is None:
            raise Refused("这个登录链接已经用过或已过期：请在与机器人的私聊中重新发送“后台”。")
        log.info("desk login person=%s from %s", person, address)
        response = RedirectResponse("/desk/", status_code=303)
        response.set_cookie(
            COOKIE,
            self.signer().session_cookie(nonce, now),
            max_age=self.settings.desk.session_hours * 3600,
            path="/desk",
            httponly=True,
            samesite="lax",
            secure=self.signer().base_url.startswith("https://"),
        )
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (its cookie stops working even if kept)."""
        form = await self.form(request)
        now = self.clock.now()

        def work(session: Session) -> None:
            viewer = self.viewer(session, request)
            self.check_csrf(viewer, form)
            end_login(session, viewer.login, now)

        await self.write(work)
        response = self.page("message.html", {"message": "已退出网页后台。"})
        response.delete_cookie(COOKIE, path="/desk")
        return response

    # --- pages ---------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        """The campaign page; a judge who hosts nothing goes to their own sheets."""
        now = self.clock.now()

        def work(session: Session) -> tuple[Viewer, dict[str, Any] | None]:
            viewer = self.viewer(session, request)
            if not viewer.sees_campaign:
                return viewer, None
            return viewer, views.campaign(session, self.settings, viewer, now)

        viewer, page = await self.read(work)
        if page is None:
            if viewer.has_sheets:
                return RedirectResponse("/desk/sheets", status_code=303)
            raise Refused("网页后台供组织者、会场主持人、领导和评委使用。")
        return self.page("campaign.html", self.base(viewer) | page)

    async def sheets(self, request: Request) -> Response:
        """A judge's own sheets."""
        now = self.clock.now()

        def work(session: Session) -> tuple[Viewer, list[dict[str, Any]]]:
            viewer = self.viewer(session, request)
            if not viewer.has_sheets:
                raise Refused("这一页只给评委看自己的评分；您不是任何会场的评委。")
            return viewer, views.own_sheets(session, self.settings, viewer, now)

        viewer, pages = await self.read(work)
        return self.page("sheets.html", self.base(viewer) | {"venues": pages})


def desk_routes(
    settings: Settings,
    factory: sessionmaker[Session],
    clock: Clock,
    *,
    config: Path | None = None,
) -> list[BaseRoute]:
    """The routes ``bot.app`` mounts under ``/desk/``; ``config`` is the file 活动设置
    writes (none: the page says uploads are unavailable)."""
    return Desk(settings, factory, clock, config=config).routes()
