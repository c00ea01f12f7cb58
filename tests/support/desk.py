"""A desk-enabled campaign and a logged-in browser stand-in, for the desk's tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from bot.app import Services
from handlers.files import store_submission_file
from storage.db import transaction
from storage.models import Deadline, Person
from storage.people import Member
from storage.submissions import record_submission
from tests.support.campaign import campaign
from tests.support.wire import PrivateChat

SECRET = "desk-test-secret"
LINK = re.compile(r"http://\S+/desk/(?:login\?t=|b/)\S+")

PEOPLE = {
    "organizer": "jiaoyugu",  # 教育股
    "leader": "wangjz",  # 王局长
    "host": "lixuebin",  # 李学斌, hosts 瑞泉中学会场
    "judge": "shenyi",  # 申毅, judges 瑞泉中学会场
    "principal": "chenxz",  # 陈校长
}


def desk_campaign(db_url: str, data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """The test campaign with the desk on, a deadline owed by units with a parent."""
    data = campaign(db_url, **overrides)
    data["server"] = {
        "data_dir": str(data_dir),
        "link_secret": SECRET,
        "public_url": "",
        "port": 8080,
    } | data.get("server", {})
    data.setdefault(
        "units",
        [
            {"name": "瑞泉学区"},
            {"name": "瑞泉中学", "parent": "瑞泉学区"},
            {"name": "人事股"},
        ],
    )
    data.setdefault(
        "deadlines",
        [
            {
                "key": "plan",
                "title": "实施方案",
                "due": "2022-02-20 17:00",
                "submitters": ["瑞泉中学", "人事股"],
            }
        ],
    )
    return data


def link_in(text: str) -> str:
    """The one desk link in a reply, as a path with its query."""
    found = LINK.findall(text)
    assert len(found) == 1, text
    parts = urlsplit(found[0])
    return parts.path + (f"?{parts.query}" if parts.query else "")


class DeskUser:
    """Asks the bot for a link in a private chat and logs in with it."""

    def __init__(self, services: Services, client: TestClient, prefix: str = "desk") -> None:
        self.chat = PrivateChat(services.dispatcher, prefix)
        self.client = client

    def link(self, role: str) -> str:
        """A fresh login link for ``role``'s person."""
        return link_in(self.chat(PEOPLE[role], "后台"))

    def login(self, role: str) -> None:
        """Open a session as ``role`` in ``client`` (its cookie jar keeps it)."""
        self.client.cookies.clear()
        path = self.link(role)
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        token = path.split("t=", 1)[1]
        done = self.client.post("/desk/login", data={"t": token}, follow_redirects=False)
        assert done.status_code == 303, done.text

    def csrf(self, path: str) -> str:
        """The CSRF token in the forms of the page at ``path``."""
        page = self.client.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)


def submit_file(services: Services, name: str, content: bytes) -> int:
    """A file 陈校长 submitted for 瑞泉中学 to the deadline ``plan``; the submission's id."""
    now = services.clock.now()
    with transaction(services.factory) as session:
        deadline = session.query(Deadline).filter(Deadline.key == "plan").one()
        person = session.query(Person).filter(Person.name == "陈校长").one()
        stored = store_submission_file(
            Path(services.settings.server.data_dir),
            deadline_key="plan",
            owner="瑞泉中学",
            version=1,
            name=name,
            content=content,
        )
        sub = record_submission(
            session,
            deadline=deadline,
            owner="瑞泉中学",
            person=Member.of(person),
            now=now,
            file_name=stored.name,
            file_path=stored.relative_path,
            file_size=stored.size,
        )
        return sub.id
