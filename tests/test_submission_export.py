"""``edubot submissions``: the xlsx index and the zip of files, named by period and unit."""

from __future__ import annotations

import dataclasses
import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.app import build_services
from bot.cli import main
from bot.clock import FakeClock
from bot.platforms.media import CHANNELS
from handlers.errors import BotError
from handlers.files import FileIntake
from handlers.messages import Attachment, InboundMessage
from handlers.submission_export import export_submissions, pick_deadlines
from storage.db import transaction
from tests.conftest import make_settings
from tests.support.wire import private_message
from tests.test_reviews import DEADLINES, GROUPS, PEOPLE

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 4, 6, 9, 0, tzinfo=TZ)
DOC = b"PK\x03\x04" + b"x" * 100


def test_index_rows_and_files_named_by_period_and_unit(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        sqlite_url, tmp_path, people=PEOPLE, groups=GROUPS, deadlines=DEADLINES
    )
    files = dict.fromkeys(CHANNELS, FileIntake(lambda _a: DOC, max_bytes=1024))
    services = build_services(settings, clock=FakeClock(NOW), files=files)
    ids = iter(range(100))

    def say(sender: str, text: str, attachment: Attachment | None = None) -> str:
        outcome = services.dispatcher.process(
            InboundMessage(
                platform="wecom",
                channel="wecom_app",
                message_id=f"x{next(ids)}",
                sender_id=sender,
                text=text,
                chat_type="private",
                attachment=attachment,
            )
        )
        assert outcome.status == "ok", outcome.reply.text
        return outcome.reply.text

    say("sunxz", "提交 周报 第2周", Attachment("file", "m1", "杜桥周报.docx"))
    say("wuxz", "提交 周报 第2周", Attachment("file", "m2", "尚德周报.docx"))
    say("jiaoyugu", "退回 尚德中学 周报 第2周 缺少数据")
    say("jiaoyugu", "免交 瑞泉中学 周报 第2周")
    try:
        with transaction(services.factory) as session:
            chosen = pick_deadlines(session, "weekly", "第2周", NOW)
            done = export_submissions(
                session,
                chosen,
                data_dir=Path(settings.server.data_dir),
                out_dir=tmp_path / "out",
                tz=TZ,
            )
            with pytest.raises(BotError, match="没有材料“nope”"):
                pick_deadlines(session, "nope", "", NOW)
            with pytest.raises(BotError, match="不是按期重复的材料"):
                pick_deadlines(session, "report", "第2周", NOW)
            opened = pick_deadlines(session, "weekly", "", NOW)
    finally:
        services.engine.dispose()
    assert [d.period for d in opened] == ["第1周", "第2周", "第3周"]
    rows = list(load_workbook(done.index).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][:4] == ("期", "单位/个人", "状态", "版本")
    assert [(r[0], r[1], r[2], r[4], r[7], r[8], r[9]) for r in rows[1:]] == [
        ("第2周", "瑞泉中学", "免交", None, None, None, None),
        ("第2周", "杜桥中学", "逾期交", "孙校长", None, None, "杜桥周报.docx"),
        ("第2周", "尚德中学", "未交", "吴校长", "已退回", "缺少数据", "尚德周报.docx"),
    ]
    with zipfile.ZipFile(done.archive) as zipped:
        assert zipped.namelist() == ["第2周_杜桥中学.docx"]
        assert zipped.read("第2周_杜桥中学.docx") == DOC
    assert (done.files, done.rows) == (1, 3)


def test_a_file_after_naming_the_period_goes_to_that_period(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        sqlite_url, tmp_path, people=PEOPLE, groups=GROUPS, deadlines=DEADLINES
    )
    files = dict.fromkeys(CHANNELS, FileIntake(lambda _a: DOC, max_bytes=1024))
    services = build_services(settings, clock=FakeClock(NOW), files=files)

    ids = iter(range(100))

    def say(text: str, attachment: Attachment | None = None) -> str:
        message = private_message("sunxz", text, f"f{next(ids)}")
        message = dataclasses.replace(message, attachment=attachment)
        return services.dispatcher.process(message).reply.text

    try:
        say("提交 周报 第3周")  # refused for want of content: it names what the file is
        third = say("", Attachment("file", "m1", "第三周.docx"))
        say("提交 周报")
        oldest = say("", Attachment("file", "m2", "补交.docx"))
    finally:
        services.engine.dispose()
    assert "“周报（第3周）”第 1 版：文件《第三周.docx》" in third
    assert "“周报（第1周，逾期补交）”第 1 版：文件《补交.docx》" in oldest


def test_the_cli_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "edubot.toml"
    example = Path(__file__).parent.parent / "config.example.toml"
    text = example.read_text(encoding="utf-8").replace(
        'url = "sqlite:///edubot.db"', f'url = "sqlite:///{tmp_path / "e.db"}"'
    )
    config.write_text(text, encoding="utf-8")
    code = main(
        ["submissions", "--config", str(config), "--deadline", "report", "--out", str(tmp_path)]
    )
    assert code == 0
    assert (tmp_path / "report.xlsx").is_file()
    assert (tmp_path / "report.zip").is_file()
    assert "report.xlsx（3 行）" in capsys.readouterr().out
