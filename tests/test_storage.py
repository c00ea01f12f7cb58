"""Storage on every database: migrations, config sync, column types, the inbound log, score
revisions and the outbox's de-duplication (SQLite always; PostgreSQL and MariaDB when up)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from bot.app import Services, build_services
from bot.clock import FakeClock
from bot.config import Settings
from bot.config_sync import sync_config
from handlers.messages import Mention, OutboundMessage, message_of
from handlers.pushes import enqueue
from handlers.venues import current_contestants
from storage.db import MIGRATIONS, make_engine, make_session_factory, transaction, upgrade
from storage.errors import RepeatDelivery, StorageUnavailable
from storage.inbound import InboundRecord, claim_inbound, find_inbound
from storage.models import (
    Base,
    Contestant,
    Deadline,
    DeadlineSubmitter,
    Group,
    InboundMessageRow,
    OutboxRow,
    Person,
    Rubric,
    RubricItem,
    ScoreRevision,
    ScoreSheet,
    Venue,
    VenueJudge,
)
from storage.people import person_by_name, person_by_platform_id, venue_by_key
from storage.scores import StoredSheet, audit_trail, confirm_sheet, get_sheet, record_sheet
from tests.conftest import make_settings
from tests.support.campaign import RUIQUAN, campaign

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPORT = {
    "key": "report",
    "title": "书面报告",
    "due": "2022-02-07 18:00",
    "submitters": ["瑞泉中学", "李学斌"],
    "group": "leaders",
    "escalate_to": ["leaders"],
}


def settings_with(db_url: str, tmp_path: Path, edit: Any = None) -> Settings:
    """The seed campaign plus a deadline; ``edit(data)`` changes a deep copy first."""
    data = copy.deepcopy(campaign(db_url))
    data["deadlines"] = [copy.deepcopy(REPORT)]
    if edit is not None:
        edit(data)
    return make_settings(db_url, tmp_path, **{k: v for k, v in data.items() if k != "server"})


@pytest.fixture
def svc(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    services = build_services(settings_with(db_url, tmp_path), clock=clock)
    yield services
    services.engine.dispose()


def resync(services: Services, settings: Settings) -> None:
    with transaction(services.factory) as session:
        sync_config(session, settings)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every config-derived row with its id, in a comparable form."""

    def rows(*columns: Any) -> list[tuple[Any, ...]]:
        return sorted(tuple(r) for r in session.execute(select(*columns)))

    return {
        "people": rows(Person.id, Person.name, Person.active, Person.wecom_userid, Person.unit),
        "groups": rows(Group.id, Group.key, Group.active, Group.webhook),
        "rubrics": rows(Rubric.id, Rubric.key, Rubric.name),
        "rubric_items": rows(RubricItem.id, RubricItem.rubric_id, RubricItem.position),
        "venues": rows(Venue.id, Venue.key, Venue.active, Venue.title, Venue.rubric_id),
        "forum_judges": rows(VenueJudge.venue_id, VenueJudge.person_id, VenueJudge.position),
        "contestants": rows(
            Contestant.id, Contestant.venue_id, Contestant.position, Contestant.name
        ),
        "deadlines": rows(Deadline.id, Deadline.key, Deadline.active, Deadline.due_at),
        "submitters": rows(
            DeadlineSubmitter.id,
            DeadlineSubmitter.deadline_id,
            DeadlineSubmitter.kind,
            DeadlineSubmitter.name,
        ),
    }


def score(
    session: Session,
    judge: str,
    contestant: str,
    total: str,
    *,
    now: datetime,
    items: list[str] | None = None,
    action: str = "score",
    source: str = "chat",
    inbound_id: int | None = None,
) -> StoredSheet:
    venue = venue_by_key(session, "ruiquan")
    person = person_by_name(session, judge)
    assert venue is not None
    assert person is not None
    target = next(c for c in venue.contestants if c.name == contestant)
    return record_sheet(
        session,
        venue_id=venue.id,
        judge_id=person.id,
        contestant_id=target.id,
        total=Decimal(total),
        items=items,
        action=action,
        now=now,
        inbound_id=inbound_id,
        source=source,
        existing=get_sheet(session, venue.id, person.id, target.id),
    )


def judge_id(session: Session, name: str) -> int:
    person = person_by_name(session, name)
    assert person is not None
    return person.id


def inbound(message_id: str, platform: str = "wecom") -> InboundRecord:
    return InboundRecord(
        platform=platform,
        channel="wecom_app" if platform == "wecom" else "dingtalk",
        message_id=message_id,
        sender_id="shenyi",
        text="评分 瑞泉中学 18 22 17 20 9",
    )


# --- migrations --------------------------------------------------------------------------


@pytest.mark.empty_db
def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        tables = sorted(inspect(engine).get_table_names())
        with Session(engine) as session, session.begin():
            session.add(Group(key="g", name="G", platform="wecom"))
        upgrade(engine)
        engine.dispose()  # the second inspector must not see a cached schema
        assert sorted(inspect(engine).get_table_names()) == tables
        assert tables == sorted([*Base.metadata.tables, "alembic_version"])
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            groups = conn.execute(select(Group.key, Group.name)).all()
        assert [tuple(v) for v in versions] == [(head,)]
        assert [tuple(g) for g in groups] == [("g", "G")]
    finally:
        engine.dispose()


def test_the_migrated_schema_is_what_the_models_say(db_url: str) -> None:
    """The models and the migrations agree on every backend: renaming a model attribute
    (Forum → Venue, forum_id → venue_id) must keep the stored names, or ship a migration."""
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diffs == []
        assert {"forums", "forum_judges"} <= set(inspect(engine).get_table_names())
        columns = {c["name"] for c in inspect(engine).get_columns("score_sheets")}
        assert "forum_id" in columns
    finally:
        engine.dispose()


# --- sync_config -------------------------------------------------------------------------


def test_sync_config_is_idempotent(
    svc: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with svc.factory() as session:
        first = snapshot(session)
    resync(svc, svc.settings)
    resync(svc, svc.settings)
    with svc.factory() as session:
        again = snapshot(session)
    # A restart (new engine, migrations again, sync again) changes nothing either.
    restarted = build_services(settings_with(db_url, tmp_path), clock=clock)
    try:
        with restarted.factory() as session:
            after_restart = snapshot(session)
    finally:
        restarted.engine.dispose()
    assert again == first
    assert after_restart == first
    assert {table: len(rows) for table, rows in first.items()} == {
        "people": 11,
        "groups": 3,
        "rubrics": 1,
        "rubric_items": 5,
        "venues": 2,
        "forum_judges": 6,
        "contestants": 9,
        "deadlines": 1,
        "submitters": 2,
    }
    assert all(row[2] for row in first["people"])  # all active


def test_reordering_and_renaming_keeps_ids_and_scores(
    svc: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with transaction(svc.factory) as session:
        sheet = score(session, "申毅", "杜桥中学", "86", now=clock.now())
        renamed = score(session, "梁飞", "尚德中学", "80", now=clock.now())
        sheet_ids = (sheet.id, renamed.id)
    with svc.factory() as session:
        before = {c.name: c.id for c in session.scalars(select(Contestant))}
        venue_id = session.scalar(select(Venue.id).where(Venue.key == "ruiquan"))

    def edit(data: dict[str, Any]) -> None:
        venue = data["venues"][0]
        venue["title"] = "学校管理论坛（第一会场）"
        venue["judges"] = ["张伟利", "申毅", "梁飞"]
        venue["contestants"] = [
            "育红初中共同体",
            "韩马初中共同体",
            "尚德中学共同体",  # 尚德中学, renamed
            "杜桥中学",
            "瑞泉中学共同体",
        ]

    resync(svc, settings_with(db_url, tmp_path, edit))
    with svc.factory() as session:
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        assert (venue.id, venue.title) == (venue_id, "学校管理论坛（第一会场）")
        assert [c.name for c in current_contestants(venue)] == [
            "育红初中共同体",
            "韩马初中共同体",
            "尚德中学共同体",
            "杜桥中学",
            "瑞泉中学共同体",
        ]
        assert [j.person.name for j in venue.judges] == ["张伟利", "申毅", "梁飞"]
        after = {c.name: (c.id, c.position) for c in venue.contestants}
        kept = {name: after[name][0] for name in RUIQUAN if name != "尚德中学"}
        assert kept == {name: before[name] for name in kept}
        # The old name stays (position 0) with its scores; the new name is a new contestant.
        assert after["尚德中学"] == (before["尚德中学"], 0)
        assert after["尚德中学共同体"][0] not in before.values()
        sheets = session.execute(
            select(ScoreSheet.id, ScoreSheet.contestant_id, ScoreSheet.total).order_by(
                ScoreSheet.id
            )
        ).all()
        assert [tuple(s) for s in sheets] == [
            (sheet_ids[0], before["杜桥中学"], Decimal(86)),
            (sheet_ids[1], before["尚德中学"], Decimal(80)),
        ]


def test_a_person_removed_from_the_config_is_inactive_and_keeps_their_sheets(
    svc: Services, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with transaction(svc.factory) as session:
        score(session, "张伟利", "瑞泉中学共同体", "88", now=clock.now(), source="wecom:1")
        person_id = person_by_name(session, "张伟利").id  # type: ignore[union-attr]

    def edit(data: dict[str, Any]) -> None:
        data["people"] = [p for p in data["people"] if p["name"] != "张伟利"]
        data["venues"][0]["judges"] = ["申毅", "梁飞"]

    resync(svc, settings_with(db_url, tmp_path, edit))
    with svc.factory() as session:
        person = person_by_name(session, "张伟利")
        assert person is not None
        assert (person.id, person.active, person.wecom_userid) == (person_id, False, None)
        assert person_by_platform_id(session, "wecom", "zhangweili") is None
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        assert [j.person.name for j in venue.judges] == ["申毅", "梁飞"]
        sheets = session.execute(select(ScoreSheet.judge_id, ScoreSheet.total)).all()
        assert [tuple(s) for s in sheets] == [(person_id, Decimal(88))]
        trail = audit_trail(session, venue.id)
        assert [(a.judge, a.contestant, a.total, a.source) for a in trail] == [
            ("张伟利", "瑞泉中学共同体", Decimal(88), "wecom:1")
        ]
        active = session.scalar(select(func.count()).where(Person.active.is_(True)))
        assert active == 10

    # Back in the config: the same row is active again with its id.
    resync(svc, settings_with(db_url, tmp_path))
    with svc.factory() as session:
        back = person_by_platform_id(session, "wecom", "zhangweili")
        assert back is not None
        assert (back.id, back.active) == (person_id, True)


def test_swapping_two_peoples_wecom_userid(svc: Services, db_url: str, tmp_path: Path) -> None:
    with svc.factory() as session:
        ids = {p.name: p.id for p in session.scalars(select(Person))}

    def edit(data: dict[str, Any]) -> None:
        people = {p["name"]: p for p in data["people"]}
        people["申毅"]["wecom_userid"], people["梁飞"]["wecom_userid"] = "liangfei", "shenyi"
        people["申毅"]["dingtalk_userid"], people["梁飞"]["dingtalk_userid"] = (
            "ding-liangfei",
            "ding-shenyi",
        )

    resync(svc, settings_with(db_url, tmp_path, edit))
    with svc.factory() as session:
        found = [
            person_by_platform_id(session, "wecom", "shenyi"),
            person_by_platform_id(session, "wecom", "liangfei"),
            person_by_platform_id(session, "dingtalk", "ding-shenyi"),
        ]
        assert [(p.name, p.id) if p else None for p in found] == [
            ("梁飞", ids["梁飞"]),
            ("申毅", ids["申毅"]),
            ("梁飞", ids["梁飞"]),
        ]
        assert {p.name: p.id for p in session.scalars(select(Person))} == ids


def test_a_duplicate_wecom_userid_in_the_database_is_refused(svc: Services) -> None:
    # The unique index the swap above has to work around really exists.
    session = svc.factory()
    try:
        session.add(Person(name="冒名者", wecom_userid="shenyi"))
        with pytest.raises(IntegrityError):
            session.flush()
    finally:
        session.rollback()
        session.close()


# --- column types ------------------------------------------------------------------------

AWARE = [
    datetime(2022, 2, 13, 8, 30, 15, 123456, tzinfo=SHANGHAI),
    datetime(2022, 2, 13, 0, 30, 15, 999999, tzinfo=UTC),
    datetime(2022, 7, 1, 9, 0, 0, 1, tzinfo=ZoneInfo("America/New_York")),
    datetime(2021, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
]


def test_utc_datetime_round_trips_aware_datetimes_with_microseconds(svc: Services) -> None:
    with transaction(svc.factory) as session:
        ids = [claim_inbound(session, inbound(f"m{i}"), when) for i, when in enumerate(AWARE)]
    with svc.factory() as session:
        back = [session.get(InboundMessageRow, row_id) for row_id in ids]
        values = [row.received_at for row in back if row is not None]
        assert values == AWARE
        assert [(v.tzinfo, v.microsecond) for v in values] == [
            (UTC, 123456),
            (UTC, 999999),
            (UTC, 1),
            (UTC, 500000),
        ]
        assert values[0] == datetime(2022, 2, 13, 0, 30, 15, 123456, tzinfo=UTC)
        # Comparisons in SQL agree whatever zone the bound value is written in.
        later = session.scalars(
            select(InboundMessageRow.message_id)
            .where(InboundMessageRow.received_at > AWARE[0])
            .order_by(InboundMessageRow.received_at)
        ).all()
        assert later == ["m1", "m2"]


def test_utc_datetime_rejects_naive_datetimes(svc: Services) -> None:
    naive = datetime(2022, 2, 13, 8, 30)  # noqa: DTZ001 - the point of the test
    with (
        pytest.raises(StatementError, match="naive datetime given to a UTCDateTime column"),
        transaction(svc.factory) as session,
    ):
        claim_inbound(session, inbound("naive"), naive)
    with svc.factory() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessageRow)) == 0


DECIMALS = ["85.5", "0.25", "84.25", "100", "0", "85.50", "0.1", "99.99"]


def test_decimal_text_keeps_decimals_exactly(svc: Services, clock: FakeClock) -> None:
    with transaction(svc.factory) as session:
        for i, value in enumerate(DECIMALS):
            session.add(Rubric(key=f"exact{i}", outlier_threshold=Decimal(value)))
        score(
            session,
            "申毅",
            "杜桥中学",
            "85.5",
            items=["18.5", "22", "17", "19", "9"],
            now=clock.now(),
        )
    with svc.factory() as session:
        stored = session.scalars(
            select(Rubric.outlier_threshold).where(Rubric.key.like("exact%")).order_by(Rubric.id)
        ).all()
        assert [str(value) for value in stored] == DECIMALS
        raw = session.execute(text("SELECT total, items FROM score_sheets")).one()
        assert raw[0] == "85.5"
        sheet = session.scalars(select(ScoreSheet)).one()
        assert (str(sheet.total), sheet.items) == ("85.5", ["18.5", "22", "17", "19", "9"])
        assert sum(Decimal(v) for v in DECIMALS[:3]) == Decimal("170.00")


# --- the inbound log ---------------------------------------------------------------------


def test_claim_inbound_twice_raises_repeat_delivery(svc: Services, clock: FakeClock) -> None:
    with transaction(svc.factory) as session:
        first = claim_inbound(session, inbound("4363689963896700987"), clock.now())
        # The same id on the other platform is another message.
        claim_inbound(session, inbound("4363689963896700987", "dingtalk"), clock.now())
    with pytest.raises(RepeatDelivery), transaction(svc.factory) as session:
        claim_inbound(session, inbound("4363689963896700987"), clock.now() + timedelta(1))
    with svc.factory() as session:
        row = find_inbound(session, "wecom", "4363689963896700987")
        assert row is not None
        assert (row.id, row.received_at, row.status) == (first, clock.now(), "pending")
        assert session.scalar(select(func.count()).select_from(InboundMessageRow)) == 2


def test_a_repeat_claim_leaves_the_transaction_usable(svc: Services, clock: FakeClock) -> None:
    """A retry is routine, not a database error: on PostgreSQL the claim must not abort the
    transaction (nor log an ERROR), as a failed unique insert would."""
    with transaction(svc.factory) as session:
        claim_inbound(session, inbound("retry-1"), clock.now())
    with transaction(svc.factory) as session:
        with pytest.raises(RepeatDelivery):
            claim_inbound(session, inbound("retry-1"), clock.now())
        row = find_inbound(session, "wecom", "retry-1")  # would fail in an aborted transaction
        assert row is not None
        assert row.status == "pending"


# --- score revisions ---------------------------------------------------------------------


def test_record_sheet_keeps_every_revision_with_its_source(svc: Services, clock: FakeClock) -> None:
    t0 = clock.now()
    with transaction(svc.factory) as session:
        first_message = claim_inbound(session, inbound("msg-1"), t0)
        s1 = score(
            session,
            "申毅",
            "杜桥中学",
            "86",
            items=["18", "22", "17", "20", "9"],
            now=t0,
            source="wecom:msg-1",
            inbound_id=first_message,
        )
        inbound_id = first_message
    with transaction(svc.factory) as session:
        s2 = score(
            session,
            "申毅",
            "杜桥中学",
            "88",
            items=["19", "23", "17", "20", "9"],
            now=t0 + timedelta(minutes=5),
            action="correct",
            source="dingtalk:msg-2",
        )
    with transaction(svc.factory) as session:
        s3 = score(
            session,
            "申毅",
            "杜桥中学",
            "90.5",
            now=t0 + timedelta(minutes=9),
            action="correct",
            source="chat",
        )
        confirm_sheet(
            session,
            s3,
            judge_id=judge_id(session, "申毅"),
            now=t0 + timedelta(minutes=10),
            inbound_id=None,
            source="chat",
        )
    assert s1.id == s2.id == s3.id
    with svc.factory() as session:
        sheet = session.scalars(select(ScoreSheet)).one()
        assert (sheet.revision, sheet.total, sheet.items, sheet.updated_at, sheet.confirmed_at) == (
            3,
            Decimal("90.5"),
            None,
            t0 + timedelta(minutes=9),
            t0 + timedelta(minutes=10),
        )
        revisions = session.execute(
            select(
                ScoreRevision.revision,
                ScoreRevision.action,
                ScoreRevision.total,
                ScoreRevision.items,
                ScoreRevision.recorded_at,
                ScoreRevision.inbound_id,
                ScoreRevision.source,
            ).order_by(ScoreRevision.id)
        ).all()
        assert [tuple(r) for r in revisions] == [
            (1, "score", Decimal(86), ["18", "22", "17", "20", "9"], t0, inbound_id, "wecom:msg-1"),
            (
                2,
                "correct",
                Decimal(88),
                ["19", "23", "17", "20", "9"],
                t0 + timedelta(minutes=5),
                None,
                "dingtalk:msg-2",
            ),
            (3, "correct", Decimal("90.5"), None, t0 + timedelta(minutes=9), None, "chat"),
            (3, "confirm", Decimal("90.5"), None, t0 + timedelta(minutes=10), None, "chat"),
        ]
        venue = venue_by_key(session, "ruiquan")
        assert venue is not None
        assert [
            (a.judge, a.contestant, a.action, a.revision) for a in audit_trail(session, venue.id)
        ] == [
            ("申毅", "杜桥中学", "score", 1),
            ("申毅", "杜桥中学", "correct", 2),
            ("申毅", "杜桥中学", "correct", 3),
            ("申毅", "杜桥中学", "confirm", 3),
        ]


def test_a_new_score_clears_an_earlier_confirmation(svc: Services, clock: FakeClock) -> None:
    with transaction(svc.factory) as session:
        sheet = score(session, "梁飞", "尚德中学", "60", now=clock.now())
        confirm_sheet(
            session,
            sheet,
            judge_id=judge_id(session, "梁飞"),
            now=clock.now(),
            inbound_id=None,
            source="chat",
        )
        score(session, "梁飞", "尚德中学", "61", now=clock.now(), action="correct")
    with svc.factory() as session:
        sheet = session.scalars(select(ScoreSheet)).one()
        assert (sheet.total, sheet.revision, sheet.confirmed_at) == (Decimal(61), 2, None)


# --- the outbox --------------------------------------------------------------------------

PUSH = OutboundMessage(
    platform="wecom",
    target_kind="group",
    target="leaders",
    text="瑞泉中学会场成绩",
    title="成绩",
    mentions=(Mention("王局长", wecom_userid="wangjz"),),
)


def test_enqueue_with_the_same_dedupe_key_adds_one_row(svc: Services, clock: FakeClock) -> None:
    now = clock.now()
    with transaction(svc.factory) as session:
        added = [
            enqueue(session, PUSH, dedupe_key="publish:forum:ruiquan", due_at=now, now=now),
            enqueue(session, PUSH, dedupe_key="publish:forum:ruiquan", due_at=now, now=now),
            enqueue(session, PUSH, dedupe_key="publish:forum:yuhong", due_at=now, now=now),
        ]
    with transaction(svc.factory) as session:
        added.append(
            enqueue(session, PUSH, dedupe_key="publish:forum:ruiquan", due_at=now, now=now)
        )
    assert added == [True, False, True, False]
    with svc.factory() as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        assert [(r.dedupe_key, r.status, r.attempts, r.due_at) for r in rows] == [
            ("publish:forum:ruiquan", "pending", 0, now),
            ("publish:forum:yuhong", "pending", 0, now),
        ]
        assert message_of(rows[0].payload) == PUSH


def test_enqueue_from_two_racing_sessions_adds_one_row(svc: Services, clock: FakeClock) -> None:
    now = clock.now()
    key = "remind:deadline:report:1d"
    second: dict[str, bool] = {}

    def other_writer() -> None:
        with transaction(svc.factory) as session:
            second["added"] = enqueue(session, PUSH, dedupe_key=key, due_at=now, now=now)

    session = svc.factory()
    try:
        first = enqueue(session, PUSH, dedupe_key=key, due_at=now, now=now)
        # The row is written but not committed: the other writer cannot see it yet and has to
        # wait on the first one's lock (SQLite) or unique index entry (PostgreSQL, MariaDB).
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(timeout=0.5)
        session.commit()
    finally:
        session.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert (first, second) == (True, {"added": False})
    with svc.factory() as check:
        assert check.scalars(select(OutboxRow.dedupe_key)).all() == [key]


# --- SQLite writers of one process ---------------------------------------------------------


def test_sqlite_writers_of_one_process_queue_and_time_out_into_storage_unavailable(
    tmp_path: Path,
) -> None:
    """While one thread holds a transaction, another waits its turn in the process (not in
    SQLite's polling busy handler) and gets StorageUnavailable (the HTTP 503) when the turn
    does not come within the busy timeout."""
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}", busy_timeout_ms=300)
    upgrade(engine)
    factory = make_session_factory(engine)
    holding, release = threading.Event(), threading.Event()
    outcome: list[str] = []

    def hold() -> None:
        with transaction(factory) as session:
            session.add(Group(key="a", name="A", platform="wecom"))
            session.flush()
            holding.set()
            release.wait(timeout=10)

    def contend() -> None:
        try:
            with transaction(factory) as session:
                session.add(Group(key="b", name="B", platform="wecom"))
            outcome.append("written")
        except StorageUnavailable as exc:
            outcome.append(str(exc))

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        late = threading.Thread(target=contend)
        late.start()
        late.join(timeout=10)
        assert outcome == ["database is busy: timed out waiting for other writers"]
    finally:
        release.set()
        holder.join(timeout=10)
    contend()  # the turn is free again
    assert outcome[1:] == ["written"]
    with factory() as session:
        assert session.scalars(select(Group.key).order_by(Group.key)).all() == ["a", "b"]
    engine.dispose()
