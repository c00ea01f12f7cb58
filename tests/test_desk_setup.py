"""活动设置 on the desk: an organizer downloads the template and the current campaign as a
workbook, and uploads a filled one, checked and written exactly as ``edubot import`` does."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tomlkit
from openpyxl import load_workbook
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import load_settings
from bot.desk.setup_pages import MAX_UPLOAD_BYTES
from bot.reloading import ConfigReloader
from bot.workbook.sheets import SHEETS
from tests.support.desk import DeskUser, desk_campaign

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAMES = [sheet.name for sheet in SHEETS]
COMMENT = "# written by the engineer: kept by every import\n"


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Services, Path]]:
    """Services built as ``serve`` builds them: from a config file, which they know."""
    config = tmp_path / "edubot.toml"
    data = desk_campaign(sqlite_url, tmp_path / "data")
    config.write_text(COMMENT + tomlkit.dumps(data), encoding="utf-8")
    services = build_services(load_settings(config), clock=clock, config=config)
    yield services, config
    services.engine.dispose()


@pytest.fixture
def desk(served: tuple[Services, Path]) -> Iterator[tuple[DeskUser, Path]]:
    services, config = served
    with TestClient(create_app(services)) as client:
        yield DeskUser(services, client), config


@pytest.fixture
def organizer(desk: tuple[DeskUser, Path]) -> tuple[DeskUser, Path]:
    """The desk with 教育股 (an organizer) logged in, and the config file."""
    user, _ = desk
    user.login("organizer")
    return desk


def _current(user: DeskUser) -> io.BytesIO:
    """The current campaign as the organizer downloads it."""
    answer = user.client.get("/desk/setup/current.xlsx")
    assert answer.status_code == 200, answer.text
    return io.BytesIO(answer.content)


def _edited(user: DeskUser, sheet: str, header: str, row: int, text: str) -> bytes:
    """The downloaded workbook with one cell (found by its header) changed."""
    book = load_workbook(_current(user))
    ws = book[sheet]
    column = next(c for c in ws[2] if c.value == header).column
    ws.cell(row, column, text)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(
    user: DeskUser, content: bytes, name: str = "活动设置.xlsx", csrf: str | None = None
) -> httpx.Response:
    token = user.csrf("/desk/setup") if csrf is None else csrf
    files = {"workbook": (name, content, XLSX)}
    return user.client.post("/desk/setup", data={"csrf": token}, files=files)


def test_the_organizer_reaches_setup_from_the_campaign_page(
    organizer: tuple[DeskUser, Path],
) -> None:
    user, _ = organizer
    assert 'href="/desk/setup"' in user.client.get("/desk/").text
    page = user.client.get("/desk/setup")
    assert page.status_code == 200
    assert "<h1>活动设置</h1>" in page.text
    assert 'enctype="multipart/form-data"' in page.text
    user.login("leader")
    assert 'href="/desk/setup"' not in user.client.get("/desk/").text


def test_the_template_and_the_current_campaign_download_as_workbooks(
    organizer: tuple[DeskUser, Path],
) -> None:
    user, _ = organizer
    answer = user.client.get("/desk/setup/template.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    blank = load_workbook(io.BytesIO(answer.content))
    assert blank.sheetnames == SHEET_NAMES
    assert blank["会场"].max_row == 3  # instructions, headers, the example row
    current = load_workbook(_current(user))
    assert current.sheetnames == SHEET_NAMES
    venues = [[c.value for c in row] for row in current["会场"].iter_rows(min_row=4)]
    assert any("杜桥中学" in str(cell) for cell in venues[0])
    people = [row[0].value for row in current["人员"].iter_rows(min_row=4)]
    assert "教育股" in people


def test_a_workbook_with_mistakes_lists_each_and_changes_nothing(
    organizer: tuple[DeskUser, Path],
) -> None:
    user, config = organizer
    before = config.read_bytes()
    book = load_workbook(io.BytesIO(_edited(user, "会场", "评委", 4, "申毅、张伟力")))
    people = book["人员"]
    roles = next(c for c in people[2] if c.value == "角色").column
    people.cell(4, roles, "校董")
    out = io.BytesIO()
    book.save(out)
    answer = _upload(user, out.getvalue(), name="填好的.xlsx")
    assert answer.status_code == 422
    assert "填好的.xlsx 有 2 处需要改正，配置未修改" in answer.text
    assert "会场 第4行 评委：" in answer.text
    assert "张伟力" in answer.text
    assert "人员 第4行 角色：" in answer.text
    assert "校董" in answer.text
    assert config.read_bytes() == before


def test_a_good_workbook_is_written_and_the_reloader_applies_it(
    served: tuple[Services, Path], caplog: pytest.LogCaptureFixture
) -> None:
    services, config = served
    reloader = ConfigReloader(services, config, poll_seconds=0)
    with TestClient(create_app(services)) as client:
        user = DeskUser(services, client)
        user.login("organizer")
        contestants = "、".join([*services.settings.venue("ruiquan").contestants, "新河中学"])
        content = _edited(user, "会场", "参与单位/选手", 4, contestants)
        with caplog.at_level(logging.INFO, logger="edubot.desk"):
            answer = _upload(user, content)
    assert answer.status_code == 200, answer.text
    settings = load_settings(config)
    assert "新河中学" in settings.venue("ruiquan").contestants
    counts = f"{len(settings.people)} 人，{len(settings.groups)} 个群"
    assert f"已导入：{counts}" in answer.text
    assert "秒内自动载入" in answer.text
    text = config.read_text(encoding="utf-8")
    assert text.startswith(COMMENT)  # the other sections and comments are kept
    assert settings.server.link_secret == services.settings.server.link_secret
    assert any(
        "教育股" in r.getMessage() and "活动设置.xlsx" in r.getMessage() for r in caplog.records
    )
    assert "新河中学" not in services.settings.venue("ruiquan").contestants
    assert reloader.check()  # what serve's poller does every few seconds
    assert "新河中学" in services.settings.venue("ruiquan").contestants


@pytest.mark.parametrize("csrf", ["", "forged"], ids=["missing", "wrong"])
def test_an_upload_without_the_csrf_token_changes_nothing(
    organizer: tuple[DeskUser, Path], csrf: str, caplog: pytest.LogCaptureFixture
) -> None:
    user, config = organizer
    before = config.read_bytes()
    content = _edited(user, "会场", "地点", 4, "新会场")
    with caplog.at_level(logging.INFO, logger="edubot.desk"):
        answer = _upload(user, content, csrf=csrf)
    assert answer.status_code == 403
    assert "校验码" in answer.text
    assert config.read_bytes() == before
    # Refused uploads are noted with who tried, as the guide says every upload is.
    assert any(
        "教育股" in r.getMessage() and "upload refused" in r.getMessage() for r in caplog.records
    )


def test_who_downloads_the_current_campaign_is_logged(
    organizer: tuple[DeskUser, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # The workbook holds the groups' webhooks and signing secrets.
    user, _ = organizer
    with caplog.at_level(logging.INFO, logger="edubot.desk"):
        _current(user)
    assert any(
        "教育股" in r.getMessage() and "downloaded the current campaign" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("role", ["leader", "host", "judge"])
def test_only_organizers_use_setup(desk: tuple[DeskUser, Path], role: str) -> None:
    user, config = desk
    user.login("organizer")
    content = _edited(user, "会场", "地点", 4, "新会场")
    theirs = user.csrf("/desk/setup")
    before = config.read_bytes()
    user.login(role)
    for path in ("/desk/setup", "/desk/setup/template.xlsx", "/desk/setup/current.xlsx"):
        assert user.client.get(path).status_code == 403, path
    answer = user.client.post(
        "/desk/setup", data={"csrf": theirs}, files={"workbook": ("a.xlsx", content, XLSX)}
    )
    assert answer.status_code == 403
    assert "只有组织者" in answer.text
    assert config.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "content", "status", "says"),
    [
        pytest.param("名单.csv", b"name,unit\n", 400, "只能上传 .xlsx", id="csv"),
        pytest.param("名单.xlsx", b"name,unit\n", 400, "只能上传 .xlsx", id="csv-renamed"),
        pytest.param("名单.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 64, 400, "只能上传 .xlsx", id="xls"),
        pytest.param(
            "大.xlsx", b"PK\x03\x04" + b"\0" * MAX_UPLOAD_BYTES, 413, "不能超过 5 MB", id="large"
        ),
        pytest.param(  # refused by its Content-Length, before the form is parsed
            "大.xlsx",
            b"PK\x03\x04" + b"\0" * (MAX_UPLOAD_BYTES + 2**20),
            413,
            "不能超过",
            id="huge",
        ),
    ],
)
def test_an_unfit_file_is_refused_in_chinese(
    organizer: tuple[DeskUser, Path], name: str, content: bytes, status: int, says: str
) -> None:
    user, config = organizer
    before = config.read_bytes()
    answer = _upload(user, content, name=name)
    assert answer.status_code == status
    assert says in answer.text
    assert config.read_bytes() == before


def test_a_broken_xlsx_is_a_listed_mistake_and_no_file_a_refusal(
    organizer: tuple[DeskUser, Path],
) -> None:
    user, config = organizer
    before = config.read_bytes()
    answer = _upload(user, b"PK\x03\x04 not really a zip", name="坏.xlsx")
    assert answer.status_code == 422
    assert "坏.xlsx：无法打开" in answer.text
    csrf = user.csrf("/desk/setup")
    empty = user.client.post("/desk/setup", data={"csrf": csrf})
    assert empty.status_code == 400
    assert "请先选择" in empty.text
    assert config.read_bytes() == before


def test_without_a_config_file_uploads_are_unavailable(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data = desk_campaign(sqlite_url, tmp_path / "data")
    config = tmp_path / "edubot.toml"
    config.write_text(tomlkit.dumps(data), encoding="utf-8")
    services = build_services(load_settings(config), clock=clock)  # no config given
    try:
        with TestClient(create_app(services)) as client:
            user = DeskUser(services, client)
            user.login("organizer")
            page = user.client.get("/desk/setup")
            assert page.status_code == 200
            assert "无法在网页上导入或导出活动设置" in page.text
            assert 'type="file"' not in page.text
            template = user.client.get("/desk/setup/template.xlsx")
            assert load_workbook(io.BytesIO(template.content)).sheetnames == SHEET_NAMES
            assert user.client.get("/desk/setup/current.xlsx").status_code == 404
            csrf = user.csrf("/desk/setup")
            files = {"workbook": ("a.xlsx", template.content, XLSX)}
            answer = user.client.post("/desk/setup", data={"csrf": csrf}, files=files)
            assert answer.status_code == 404
            assert "无法在网页上导入" in answer.text
    finally:
        services.engine.dispose()
