"""The web desk on the server side: login links, sessions, every role × page, CSRF,
downloads and the results board's data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from bot.config_sync import sync_config
from handlers.messages import InboundMessage
from storage.db import transaction
from storage.desk_tables import DeskLogin
from storage.models import OutboxRow
from tests.support.desk import PEOPLE, DeskUser, desk_campaign, link_in, submit_file
from tests.support.wire import PrivateChat, wecom_private


@pytest.fixture
def desk(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Services, DeskUser]]:
    settings = settings_from_mapping(desk_campaign(db_url, tmp_path / "data"))
    services = build_services(settings, clock=clock)
    with TestClient(create_app(services)) as client:
        yield services, DeskUser(services, client)
    services.engine.dispose()


def _score_all(services: Services, venue_judges: dict[str, list[str]]) -> None:
    chat = PrivateChat(services.dispatcher, "score")
    for judge, contestants in venue_judges.items():
        for c in contestants:
            assert "已记录" in chat(judge, f"评分 {c} 18 22 17 20 9")


# --- links and sessions -------------------------------------------------------------------


def test_the_link_is_used_by_the_confirmation_not_by_opening_it(
    desk: tuple[Services, DeskUser],
) -> None:
    services, user = desk
    path = user.link("organizer")
    client = user.client
    for _ in range(3):  # a chat app's link preview, then the person, then a reload
        page = client.get(path)
        assert page.status_code == 200
        assert "进入后台" in page.text
    assert client.get("/desk/").status_code == 403  # no session from the GETs
    token = path.split("t=", 1)[1]
    assert client.post("/desk/login", data={"t": token}, follow_redirects=False).status_code == 303
    cookie = client.cookies.get("edubot_desk")
    assert cookie
    assert client.get("/desk/").status_code == 200
    client.cookies.clear()
    again = client.post("/desk/login", data={"t": token}, follow_redirects=False)
    assert again.status_code == 403
    assert "已经用过" in again.text
    with transaction(services.factory) as session:
        row = session.query(DeskLogin).one()
        assert row.used_at is not None
        assert row.address == "testclient"
        assert row.source == "私聊（企业微信）"


def test_the_session_cookie_is_httponly_samesite_and_scoped(
    desk: tuple[Services, DeskUser],
) -> None:
    _, user = desk
    path = user.link("leader")
    token = path.split("t=", 1)[1]
    answer = user.client.post("/desk/login", data={"t": token}, follow_redirects=False)
    header = answer.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "path=/desk" in header
    assert "max-age=28800" in header  # [desk] session_hours = 8


def test_an_expired_link_is_refused(desk: tuple[Services, DeskUser], clock: FakeClock) -> None:
    _, user = desk
    path = user.link("organizer")
    clock.advance(timedelta(minutes=11))
    assert user.client.get(path).status_code == 403
    token = path.split("t=", 1)[1]
    assert user.client.post("/desk/login", data={"t": token}).status_code == 403
    assert user.client.get("/desk/").status_code == 403


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="signature"),
        pytest.param(lambda t: "x" + t, id="payload"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: t.split(".")[0], id="unsigned"),
    ],
)
def test_a_tampered_link_is_refused(desk: tuple[Services, DeskUser], mangle: object) -> None:
    _, user = desk
    token = user.link("organizer").split("t=", 1)[1]
    bad = mangle(token)  # type: ignore[operator]
    assert user.client.get(f"/desk/login?t={bad}").status_code == 403
    assert user.client.post("/desk/login", data={"t": bad}).status_code == 403
    assert user.client.get("/desk/").status_code == 403


def test_a_forged_session_cookie_is_refused(desk: tuple[Services, DeskUser]) -> None:
    _, user = desk
    user.login("organizer")
    cookie = user.client.cookies.get("edubot_desk")
    assert cookie is not None
    user.client.cookies.clear()
    user.client.cookies.set("edubot_desk", cookie[:-3] + "abc", path="/desk")
    assert user.client.get("/desk/").status_code == 403


def test_a_session_expires_after_its_hours(
    desk: tuple[Services, DeskUser], clock: FakeClock
) -> None:
    _, user = desk
    user.login("organizer")
    clock.advance(timedelta(hours=7, minutes=59))
    assert user.client.get("/desk/").status_code == 200
    clock.advance(timedelta(minutes=2))
    answer = user.client.get("/desk/")
    assert answer.status_code == 403
    assert "后台" in answer.text


def test_logging_out_ends_the_session_even_with_the_cookie_kept(
    desk: tuple[Services, DeskUser],
) -> None:
    _, user = desk
    user.login("organizer")
    cookie = user.client.cookies.get("edubot_desk")
    csrf = user.csrf("/desk/")
    assert user.client.post("/desk/logout", data={"csrf": csrf}).status_code == 200
    user.client.cookies.set("edubot_desk", cookie or "", path="/desk")
    assert user.client.get("/desk/").status_code == 403


def test_the_session_ends_when_the_person_leaves_the_config(
    desk: tuple[Services, DeskUser], sqlite_url: str, tmp_path: Path
) -> None:
    services, user = desk
    user.login("leader")
    assert user.client.get("/desk/").status_code == 200
    data = desk_campaign(sqlite_url, tmp_path / "data")
    data["people"] = [p for p in data["people"] if p["name"] != "王局长"]
    with transaction(services.factory) as session:
        sync_config(session, settings_from_mapping(data))
    answer = user.client.get("/desk/")
    assert answer.status_code == 403
    assert "不在本活动的人员名单中" in answer.text


def test_people_without_a_desk_role_get_no_link(desk: tuple[Services, DeskUser]) -> None:
    services, _ = desk
    chat = PrivateChat(services.dispatcher, "p")
    reply = chat(PEOPLE["principal"], "后台")
    assert "http" not in reply
    assert "我的" in reply


def _in_group(user: str, text: str, message_id: str) -> InboundMessage:
    """A message in the 瑞泉中学 venue group (the WeCom intelligent robot)."""
    return replace(
        wecom_private(user, text, message_id),
        channel="wecom_robot",
        chat_type="group",
        chat_id="wrRuiquan",
    )


def test_a_link_asked_for_in_a_group_goes_privately(desk: tuple[Services, DeskUser]) -> None:
    services, _ = desk
    message = _in_group("lixuebin", "后台", "g-1")
    outcome = services.dispatcher.process(message)
    assert "http" not in outcome.reply.text
    assert "私信" in outcome.reply.text
    with transaction(services.factory) as session:
        row = session.query(OutboxRow).filter(OutboxRow.reason == "desk").one()
        assert (row.target_kind, row.target) == ("person", "lixuebin")
        assert "/desk/login?t=" in row.payload["text"]


# --- every role × page --------------------------------------------------------------------

PAGES = {
    "campaign": "/desk/",
    "own venue": "/desk/venues/ruiquan",
    "other venue": "/desk/venues/yuhong",
    "export": f"/desk/venues/ruiquan/{quote('成绩汇总表')}.xlsx",
    "other export": f"/desk/venues/yuhong/{quote('成绩汇总表')}.xlsx",
    "image": "/desk/venues/ruiquan/ranking.png",
    "board": "/desk/venues/ruiquan/board",
    "board data": "/desk/venues/ruiquan/board.json",
    "other board data": "/desk/venues/yuhong/board.json",
    "deadline": "/desk/deadlines/plan",
    "sheets": "/desk/sheets",
}
ALLOWED = {
    "organizer": set(PAGES) - {"sheets"},
    "leader": set(PAGES) - {"sheets"},
    "host": {"campaign", "own venue", "export", "image", "board", "board data"},
    "judge": {"sheets"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_every_role_sees_exactly_its_pages(desk: tuple[Services, DeskUser], role: str) -> None:
    _, user = desk
    user.login(role)
    for page, path in PAGES.items():
        if role == "judge" and page == "campaign":
            continue  # below
        answer = user.client.get(path, follow_redirects=False)
        expected = 200 if page in ALLOWED[role] else 403
        assert answer.status_code == expected, (role, page, answer.status_code)
    # the desk's landing page sends a judge to their own sheets
    if role == "judge":
        answer = user.client.get("/desk/", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/desk/sheets"


def test_no_page_opens_without_a_session(desk: tuple[Services, DeskUser]) -> None:
    _, user = desk
    for path in PAGES.values():
        answer = user.client.get(path, follow_redirects=False)
        assert answer.status_code in (403,), path
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_host_sees_only_their_venue_on_the_campaign_page(
    desk: tuple[Services, DeskUser],
) -> None:
    _, user = desk
    user.login("host")
    page = user.client.get("/desk/").text
    assert "瑞泉中学会场" in page
    assert "育红初中会场" not in page
    assert "实施方案" not in page  # deadlines are for organizers and leaders


def test_pages_are_chinese_with_the_year_when_not_this_year(
    desk: tuple[Services, DeskUser], clock: FakeClock
) -> None:
    _, user = desk
    user.login("organizer")
    page = user.client.get("/desk/").text
    assert "2月13日（周日）08:00" in page
    assert "2022年2月13日" not in page
    clock.advance(timedelta(days=365))
    user.login("organizer")
    page = user.client.get("/desk/").text
    assert "2022年2月13日（周日）08:00" in page
    assert "活动总览" in page
    assert "上交材料" in page


# --- CSRF and projector links -------------------------------------------------------------


def test_forms_without_the_csrf_token_change_nothing(desk: tuple[Services, DeskUser]) -> None:
    _, user = desk
    user.login("host")
    path = "/desk/venues/ruiquan/board-links"
    assert user.client.post(path, data={}).status_code == 403
    assert user.client.post(path, data={"csrf": "forged"}).status_code == 403
    assert "/desk/b/" not in user.client.get("/desk/venues/ruiquan").text
    csrf = user.csrf("/desk/venues/ruiquan")
    made = user.client.post(path, data={"csrf": csrf}, follow_redirects=False)
    assert made.status_code == 303
    assert "/desk/b/" in user.client.get("/desk/venues/ruiquan").text


def test_a_csrf_token_of_another_session_does_not_work(desk: tuple[Services, DeskUser]) -> None:
    _, user = desk
    user.login("organizer")
    theirs = user.csrf("/desk/venues/ruiquan")
    user.login("host")
    answer = user.client.post("/desk/venues/ruiquan/board-links", data={"csrf": theirs})
    assert answer.status_code == 403


def test_a_projector_link_opens_one_board_until_revoked(desk: tuple[Services, DeskUser]) -> None:
    services, user = desk
    chat = PrivateChat(services.dispatcher, "board")
    path = link_in(chat("lixuebin", "看板"))
    user.client.cookies.clear()
    assert user.client.get(path).status_code == 200
    data = user.client.get(f"{path}.json").json()
    assert data["venue"] == "瑞泉中学会场"
    assert user.client.get("/desk/venues/ruiquan").status_code == 403  # nothing else
    user.login("host")
    venue_page = user.client.get("/desk/venues/ruiquan").text
    assert path.rsplit("/", 1)[1] in venue_page
    csrf = user.csrf("/desk/venues/ruiquan")
    link_id = venue_page.split("/board-links/", 1)[1].split("/", 1)[0]
    revoke = f"/desk/venues/ruiquan/board-links/{link_id}/revoke"
    assert user.client.post(revoke, data={}).status_code == 403  # CSRF first
    assert user.client.post(revoke, data={"csrf": csrf}, follow_redirects=False).status_code == 303
    user.client.cookies.clear()
    assert user.client.get(f"{path}.json").status_code == 403
    assert user.client.get(path[:-3] + "xyz").status_code == 403  # tampered


def test_a_judge_gets_no_projector_link(desk: tuple[Services, DeskUser]) -> None:
    services, _ = desk
    reply = PrivateChat(services.dispatcher, "b")("shenyi", "看板 瑞泉")
    assert "http" not in reply


# --- the board's data ---------------------------------------------------------------------


def test_the_board_shows_the_ranking_only_once_published(
    desk: tuple[Services, DeskUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.desk.board_pages as web

    monkeypatch.setattr(web, "BOARD_CACHE_S", 0.0)  # the cache runs on the monotonic clock
    monkeypatch.setattr(web, "BOARD_BUSY", 0.0)
    services, user = desk
    user.login("host")
    ruiquan = ["瑞泉中学共同体", "杜桥中学", "尚德中学", "韩马初中共同体", "育红初中共同体"]
    _score_all(services, {j: ruiquan for j in ("shenyi", "liangfei", "zhangweili")})
    data = user.client.get("/desk/venues/ruiquan/board.json").json()
    assert data["scored"] == data["expected"] == 15
    assert data["rows"] == []
    assert "公布" in PrivateChat(services.dispatcher, "pub")("lixuebin", "公布")
    data = user.client.get("/desk/venues/ruiquan/board.json").json()
    assert data["published"] is True
    assert [r["name"] for r in data["rows"]] == ruiquan
    assert data["rows"][0] == {"rank": "1", "name": "瑞泉中学共同体", "result": "86.0"}


def test_a_live_board_shows_scores_as_they_arrive(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.desk.board_pages as web

    monkeypatch.setattr(web, "BOARD_CACHE_S", 0.0)
    monkeypatch.setattr(web, "BOARD_BUSY", 0.0)
    data = desk_campaign(sqlite_url, tmp_path / "data")
    data["venues"][0]["board_live"] = True
    services = build_services(settings_from_mapping(data), clock=clock)
    try:
        with TestClient(create_app(services)) as client:
            user = DeskUser(services, client)
            user.login("host")
            before = client.get("/desk/venues/ruiquan/board.json").json()["rows"]
            assert {r["result"] for r in before} == {"—"}  # listed, nothing scored yet
            _score_all(services, {"shenyi": ["杜桥中学"]})
            board = client.get("/desk/venues/ruiquan/board.json").json()
            assert board["live"] is True
            assert board["rows"][0] == {"rank": "1", "name": "杜桥中学", "result": "86.0"}
    finally:
        services.engine.dispose()


def test_the_venue_page_shows_the_matrix_outliers_ranking_and_audit(
    desk: tuple[Services, DeskUser],
) -> None:
    services, user = desk
    chat = PrivateChat(services.dispatcher, "venue")
    chat("shenyi", "评分 杜桥中学 86")
    chat("liangfei", "评分 杜桥中学 90")
    chat("zhangweili", "评分 杜桥中学 60")  # 26 from the median (86): awaits 确认
    chat("shenyi", "更正 杜桥中学 87")
    user.login("host")
    page = user.client.get("/desk/venues/ruiquan").text
    outliers = page.split("待评委确认的评分", 1)[1].split("</section>", 1)[0]
    assert "张伟利 → 杜桥中学：60 分" in outliers
    ranking = page.split("<h2>排名</h2>", 1)[1].split("</table>", 1)[0]
    row = next(r for r in ranking.split("<tr>") if "杜桥中学" in r)
    assert re.findall(r"<td>([^<]*)</td>", row)[-3:] == ["87", "90", "60"]
    matrix = page.split("评分进度（评委 × 选手）", 1)[1].split("</table>", 1)[0]
    assert "申毅 还剩 <strong>4</strong>" in matrix
    cells = {r.split("</td>", 1)[0]: r for r in matrix.split("<tr><td>")[1:]}
    assert re.findall(r"<td[^>]*>([^<]*)</td>", cells["杜桥中学"]) == ["87", "90", "60"]
    assert re.findall(r"<td[^>]*>([^<]*)</td>", cells["尚德中学"]) == ["未评"] * 3
    audit = page.split("<h2>修改记录</h2>", 1)[1].split("</table>", 1)[0]
    assert [
        (cells[2], cells[3], cells[4], cells[5])
        for cells in (re.findall(r">([^<]*)</td>", r) for r in audit.split("<tr>")[2:])
    ] == [
        ("杜桥中学", "更正", "2", "87"),
        ("杜桥中学", "评分", "1", "60"),
        ("杜桥中学", "评分", "1", "90"),
        ("杜桥中学", "评分", "1", "86"),
    ]
    chat("zhangweili", "确认 杜桥中学")
    assert "待评委确认的评分" not in user.client.get("/desk/venues/ruiquan").text


def test_a_repeating_deadline_shows_its_open_periods_by_name(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    weekly = {
        "key": "weekly",
        "title": "周报",
        "repeat": "weekly",
        "weekday": "fri",
        "time": "17:00",
        "start": "2022-03-07",
        "end": "2022-04-29",
        "submitters": ["瑞泉中学", "人事股"],
    }
    data = desk_campaign(db_url, tmp_path / "data", deadlines=[weekly])
    services = build_services(settings_from_mapping(data), clock=clock)
    clock.set(datetime(2022, 3, 16, 9, tzinfo=ZoneInfo("Asia/Shanghai")))  # in week 2
    try:
        with TestClient(create_app(services)) as client:
            user = DeskUser(services, client)
            user.login("organizer")
            page = client.get("/desk/").text
            shown = re.findall(r'href="/desk/deadlines/(weekly@[^"]+)">([^<]+)</a>', page)
            # Week 1 is due, week 2 runs; week 3 opens when week 2 falls due.
            assert shown == [
                ("weekly@2022-03-11", "周报（第1周）"),
                ("weekly@2022-03-18", "周报（第2周）"),
            ]
            period = client.get("/desk/deadlines/weekly@2022-03-18").text
            assert "<h1>周报（第2周）</h1>" in period
            chat = PrivateChat(services.dispatcher, "weekly")
            assert "第1周，逾期补交" in chat("chenxz", "提交 周报 https://pan.example.cn/s/a")
            chat("chenxz", "提交 周报 第1周 https://pan.example.cn/s/b")
            week1 = client.get("/desk/deadlines/weekly@2022-03-11").text
            row = week1.split('data-label="单位 / 人员">瑞泉中学', 1)[1].split("</tr>", 1)[0]
            assert "逾期交" in row
            assert re.findall(r"第(\d)版 · 3月16日（周三）09:00 · 陈校长 <span[^>]*>逾期", row) == [
                "2",
                "1",
            ]
            assert row.index("/s/b") < row.index("/s/a")
            assert "未交（1）</h2><p>人事股</p>" in week1
    finally:
        services.engine.dispose()


# --- downloads ----------------------------------------------------------------------------


def test_a_submitted_file_downloads_as_an_attachment_with_its_bytes(
    desk: tuple[Services, DeskUser],
) -> None:
    services, user = desk
    content = b"<html><script>alert(1)</script></html>"
    sub_id = submit_file(services, "方案.html", content)
    user.login("leader")
    page = user.client.get("/desk/deadlines/plan").text
    assert f"/desk/files/{sub_id}" in page
    assert "瑞泉学区" in page  # grouped under the unit's parent
    assert "人事股" in page
    assert "未交" in page
    answer = user.client.get(f"/desk/files/{sub_id}")
    assert answer.status_code == 200
    assert answer.content == content
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-type"] == "application/octet-stream"
    user.login("host")
    assert user.client.get(f"/desk/files/{sub_id}").status_code == 403


def test_the_score_sheet_downloads_as_xlsx(desk: tuple[Services, DeskUser]) -> None:
    _, user = desk
    user.login("host")
    answer = user.client.get(PAGES["export"])
    assert answer.status_code == 200
    assert answer.content[:2] == b"PK"  # a zip: the xlsx
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_desk_is_off_without_a_link_secret(sqlite_services: Services) -> None:
    reply = PrivateChat(sqlite_services.dispatcher, "off")("jiaoyugu", "后台")
    assert "link_secret" in reply
    assert "http" not in reply
    with TestClient(create_app(sqlite_services)) as client:
        assert client.get("/desk/").status_code == 404


def test_the_campaign_page_lists_pushes_and_for_organizers_the_logins(
    desk: tuple[Services, DeskUser],
) -> None:
    services, user = desk
    PrivateChat(services.dispatcher, "g")("lixuebin", "看板")  # a push-free private answer
    user.login("leader")
    page = user.client.get("/desk/").text
    assert "推送" in page
    assert "后台登录记录" not in page
    user.login("organizer")
    page = user.client.get("/desk/").text
    assert "后台登录记录" in page
    assert page.count("私聊（企业微信）") >= 2  # the leader's and the organizer's logins
    assert "testclient" in page


def test_the_demo_prints_working_desk_links(desk: tuple[Services, DeskUser]) -> None:
    from bot.devtools.demo_desk import desk_links

    services, user = desk
    links = dict(desk_links(services, "http://127.0.0.1:5555/"))
    assert len(links) == 3
    assert all(link.startswith("http://127.0.0.1:5555/desk/") for link in links.values())
    login = next(v for k, v in links.items() if "教育股" in k)
    token = login.split("t=", 1)[1]
    user.client.cookies.clear()
    assert user.client.post("/desk/login", data={"t": token}).status_code == 200
    assert "活动总览" in user.client.get("/desk/").text
    board = next(v for k, v in links.items() if "看板" in k)
    assert user.client.get(board.removeprefix("http://127.0.0.1:5555") + ".json").status_code == 200


@pytest.mark.parametrize(
    ("role", "lines"),
    [
        pytest.param("leader", ["后台", "看板 瑞泉中学会场"], id="leader"),
        pytest.param("host", ["后台", "看板 瑞泉中学会场"], id="host"),
        pytest.param("judge", ["后台"], id="judge"),
        pytest.param("principal", [], id="principal"),
    ],
)
def test_help_shows_the_desk_commands_that_work_for_the_person(
    desk: tuple[Services, DeskUser], role: str, lines: list[str]
) -> None:
    services, _ = desk
    chat = PrivateChat(services.dispatcher, f"help-{role}")
    shown = chat(PEOPLE[role], "帮助")
    examples = [
        line.split(" —— ")[0] for line in shown.split("\n") if line.startswith(("后台", "看板"))
    ]
    assert examples == lines
    for example in examples:
        assert "/desk/" in chat(PEOPLE[role], example)


def test_pushes_are_named_as_people_read_them_and_answers_stay_out(
    desk: tuple[Services, DeskUser],
) -> None:
    from storage.outbox import add_push

    services, user = desk
    message = _in_group("lixuebin", "后台", "g-2")
    services.dispatcher.process(message)
    now = services.clock.now()
    with transaction(services.factory) as session:
        add_push(
            session,
            platform="dingtalk",
            target_kind="session",
            target="https://oapi.dingtalk.com/robot/sendBySession?session=SECRET",
            payload={"platform": "dingtalk", "target_kind": "session", "target": "x", "text": "答"},
            dedupe_key="reply:1",
            due_at=now,
            now=now,
            reason="reply:1",
        )
    user.login("organizer")
    page = user.client.get("/desk/").text
    assert "即将发送" in page
    assert '后台链接</td><td data-label="发往">李学斌</td>' in page
    assert "sendBySession" not in page
    assert "desk:" not in page


def test_the_venue_page_refreshes_itself_only_while_scoring(
    desk: tuple[Services, DeskUser],
) -> None:
    services, user = desk
    user.login("host")
    assert 'http-equiv="refresh"' in user.client.get("/desk/venues/ruiquan").text
    ruiquan = ["瑞泉中学共同体", "杜桥中学", "尚德中学", "韩马初中共同体", "育红初中共同体"]
    _score_all(services, {j: ruiquan for j in ("shenyi", "liangfei", "zhangweili")})
    assert 'http-equiv="refresh"' not in user.client.get("/desk/venues/ruiquan").text
