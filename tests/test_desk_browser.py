"""The web desk in a real headless browser: the system's Chromium driven by Playwright
against ``edubot``'s app served by uvicorn on loopback. Skipped cleanly where there is no
Chromium or no Playwright (``.ci/run`` installs Chromium)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.devtools.serving import LoopbackServer
from tests.support.desk import PEOPLE, desk_campaign, link_in, submit_file
from tests.support.wire import PrivateChat, wecom_app_request

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")
WAIT_MS = 30_000  # generous: the machine may be busy


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Site:
    """The app on a loopback port, with a private chat to ask the bot for links."""

    def __init__(self, services: Services, base: str) -> None:
        self.services = services
        self.base = base
        self.chat = PrivateChat(services.dispatcher, "browser")

    def link(self, role: str, text: str = "后台") -> str:
        return self.base + link_in(self.chat(PEOPLE[role], text))

    def login(self, page: Any, role: str) -> None:
        page.goto(self.link(role))
        page.click("#enter")
        page.wait_for_url(f"{self.base}/desk/**")


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Site]:
    data = desk_campaign(sqlite_url, tmp_path / "data", desk={"board_poll_s": 0.3})
    data["venues"][0]["board_live"] = True
    services = build_services(settings_from_mapping(data), clock=clock)
    with LoopbackServer(create_app(services), name="desk-browser") as server:
        yield Site(services, server.base_url)
    services.engine.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()


def test_the_board_updates_itself_after_a_score_arrives_over_wecom(site: Site, page: Any) -> None:
    page.goto(site.link("host", "看板"))
    rows = page.locator("#ranking tbody tr")
    rows.first.wait_for()
    assert "—" in rows.first.inner_text()  # nothing scored yet: every result is a dash
    query, body = wecom_app_request(
        "shenyi", "评分 杜桥中学 18 22 17 20 9", "b-1", site.services.clock.now()
    )
    answer = httpx.post(f"{site.base}/wecom/callback", params=query, content=body, timeout=30)
    assert answer.status_code == 200
    first = page.locator("#ranking tbody tr").first
    playwright_api.expect(first).to_contain_text("杜桥中学", timeout=WAIT_MS)
    playwright_api.expect(first).to_contain_text("86.0", timeout=WAIT_MS)
    assert page.evaluate("document.body.getAttribute('data-version')")


def test_a_host_cannot_open_another_venues_page(site: Site, page: Any) -> None:
    site.login(page, "host")
    own = page.goto(f"{site.base}/desk/venues/ruiquan")
    assert own is not None
    assert own.status == 200
    assert "评分进度（评委 × 选手）" in page.content()
    other = page.goto(f"{site.base}/desk/venues/yuhong")
    assert other is not None
    assert other.status == 403
    assert "没有查看这个会场的权限" in page.content()


def test_an_expired_or_tampered_link_is_refused(site: Site, page: Any) -> None:
    link = site.link("organizer")
    tampered = page.goto(link[:-4] + "abcd")
    assert tampered is not None
    assert tampered.status == 403
    assert "登录链接无效或已过期" in page.content()
    site.services.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    expired = page.goto(link)
    assert expired is not None
    assert expired.status == 403
    after = page.goto(f"{site.base}/desk/")
    assert after is not None
    assert after.status == 403


def test_a_submitted_file_downloads_with_the_right_bytes(site: Site, page: Any) -> None:
    content = bytes(range(256)) * 40 + b"<svg onload=alert(1)>"
    sub_id = submit_file(site.services, "汇报.svg", content)
    site.login(page, "leader")
    page.goto(f"{site.base}/desk/deadlines/plan")
    with page.expect_download() as info:
        page.click(f"a[href='/desk/files/{sub_id}']")
    download = info.value
    assert download.suggested_filename == "汇报.svg"
    assert Path(download.path()).read_bytes() == content


def test_the_pages_fit_a_phone_without_scrolling_sideways(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        phone.set_default_timeout(WAIT_MS)
        site.login(phone, "organizer")
        pages = [
            "/desk/",
            "/desk/venues/ruiquan",
            "/desk/deadlines/plan",
            "/desk/venues/ruiquan/board",
        ]
        for path in pages:
            phone.goto(site.base + path)
            width = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], (path, width)
        site.login(phone, "judge")
        phone.goto(f"{site.base}/desk/sheets")
        width = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
    finally:
        context.close()
