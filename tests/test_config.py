"""Tables for bot.config: every broken config names the key and the problem (STYLE 14)."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bot.config import (
    CampaignConfig,
    DatabaseSettings,
    DeadlineConfig,
    DigestConfig,
    DingTalkSettings,
    GroupConfig,
    OutboxSettings,
    PersonConfig,
    PhaseConfig,
    RubricConfig,
    RubricItemConfig,
    ServerSettings,
    Settings,
    UnitConfig,
    VenueConfig,
    WeComSettings,
    load_settings,
    settings_from_mapping,
)
from bot.errors import ConfigError
from tests.support.campaign import campaign

SOURCE = "edubot.toml"
EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

REPORT = {
    "key": "report",
    "title": "书面报告",
    "aliases": ["报告"],
    "due": "2022-02-07 18:00",
    "submitters": ["瑞泉中学", "李学斌"],
    "group": "leaders",
    "remind_before": ["3d", "1d", "2h"],
    "escalate_to": ["leaders"],
    "campaign": "pinzhi2022",
}
WEEKLY = {
    "key": "weekly",
    "title": "周汇报",
    "cron": "0 17 * * fri",
    "to": ["leaders"],
    "deadlines": ["report"],
    "venues": ["ruiquan", "yuhong"],
}
PINZHI = {
    "key": "pinzhi2022",
    "title": "2022年品质教育这样干",
    "phases": [{"name": "准备阶段", "start": "2022-01-25 00:00", "end": "2022-02-07 23:59"}],
}


def base() -> dict[str, Any]:
    """The seed campaign plus a deadline, a digest and a campaign; a fresh deep copy each time
    (``campaign()`` shares its rubric dict between calls)."""
    data = copy.deepcopy(campaign())
    data["deadlines"] = [copy.deepcopy(REPORT)]
    data["digests"] = [copy.deepcopy(WEEKLY)]
    data["campaigns"] = [copy.deepcopy(PINZHI)]
    return data


def load(data: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    return settings_from_mapping(data, source=SOURCE, env={} if env is None else env)


DELETE = object()
Path_ = tuple[str | int, ...]


def edited(path: Path_, value: Any) -> dict[str, Any]:
    """``base()`` with the value at ``path`` replaced (appended at len, removed with DELETE)."""
    data = base()
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if value is DELETE:
        del parent[last]
    elif isinstance(parent, list) and last == len(parent):
        parent.append(copy.deepcopy(value))
    else:
        parent[last] = copy.deepcopy(value)
    return data


def test_base_is_valid() -> None:
    settings = load(base())
    assert settings.source == SOURCE
    assert [f.key for f in settings.venues] == ["ruiquan", "yuhong"]
    assert [len(f.contestants) for f in settings.venues] == [5, 4]
    assert [(d.key, d.submitters) for d in settings.deadlines] == [
        ("report", ("瑞泉中学", "李学斌"))
    ]
    assert len(settings.people) == 11
    assert settings.rubric("fujian3").total_max == 100


LOOKUPS: list[tuple[str, Callable[[Settings], Callable[[str], object]], str]] = [
    ("group", lambda s: s.group, "[[groups]]"),
    ("person", lambda s: s.person, "[[people]]"),
    ("rubric", lambda s: s.rubric, "[[rubrics]]"),
    ("venue", lambda s: s.venue, "[[venues]]"),
    ("deadline", lambda s: s.deadline, "[[deadlines]]"),
]


@pytest.mark.parametrize(
    ("lookup", "table"), [(f, t) for _, f, t in LOOKUPS], ids=[i for i, *_ in LOOKUPS]
)
def test_unknown_key_raises_key_error_naming_it(
    lookup: Callable[[Settings], Callable[[str], object]], table: str
) -> None:
    with pytest.raises(KeyError) as raised:
        lookup(load(base()))("无此项")
    assert "无此项" in str(raised.value)
    assert table in str(raised.value)


# --- broken configs ----------------------------------------------------------------------

VENUE_0 = campaign()["venues"][0]
PEOPLE_KNOWN = "党攀峰, 张伟利, 教育股, 李学斌, 梁飞, 樊文英, 王局长, 申毅, 郭锋, 陈校长, 韩晓斌"
BROKEN: list[tuple[str, Path_, Any, str, str]] = [
    # id, where, new value, the key the error names, a phrase of the problem
    (
        "unknown judge",
        ("venues", 0, "judges"),
        ["申毅", "梁飞", "张伟力"],
        "venues[0].judges[2]",
        f"unknown judge (not in [[people]]) '张伟力' (defined: {PEOPLE_KNOWN})",
    ),
    (
        "unknown host",
        ("venues", 1, "host"),
        "郭峰",
        "venues[1].host",
        "unknown person '郭峰'",
    ),
    (
        "unknown rubric",
        ("venues", 0, "rubric"),
        "fujian4",
        "venues[0].rubric",
        "unknown rubric 'fujian4' (defined: fujian3)",
    ),
    (
        "unknown group in results_to",
        ("venues", 0, "results_to"),
        ["leaders", "leader"],
        "venues[0].results_to[1]",
        "unknown group 'leader' (defined: leaders, ruiquan, yuhong)",
    ),
    ("unknown venue group", ("venues", 0, "group"), "rq", "venues[0].group", "unknown group 'rq'"),
    (
        "unknown deadline group",
        ("deadlines", 0, "group"),
        "principals",
        "deadlines[0].group",
        "unknown group 'principals'",
    ),
    (
        "unknown escalate_to group",
        ("deadlines", 0, "escalate_to"),
        "leader",
        "deadlines[0].escalate_to[0]",
        "unknown group 'leader'",
    ),
    (
        "unknown campaign",
        ("deadlines", 0, "campaign"),
        "pinzhi",
        "deadlines[0].campaign",
        "unknown campaign 'pinzhi' (defined: pinzhi2022)",
    ),
    ("unknown digest group", ("digests", 0, "to"), ["领导"], "digests[0].to[0]", "unknown group"),
    (
        "unknown digest deadline",
        ("digests", 0, "deadlines"),
        ["report", "summary"],
        "digests[0].deadlines[1]",
        "unknown deadline 'summary' (defined: report)",
    ),
    (
        "unknown digest venue",
        ("digests", 0, "venues"),
        ["ruiquan", "yuhong", "dongfeng"],
        "digests[0].venues[2]",
        "unknown venue 'dongfeng'",
    ),
    (
        "submitter not a person or unit",
        ("deadlines", 0, "submitters"),
        ["瑞泉中学", "某某中学"],
        "deadlines[0].submitters[1]",
        "unknown person or unit '某某中学'",
    ),
    (
        "rubric without items",
        ("rubrics", 0, "items"),
        [],
        "rubrics[0].items",
        "a rubric needs at least one item",
    ),
    (
        "rubric items missing",
        ("rubrics", 0, "items"),
        DELETE,
        "rubrics[0].items",
        "required key is missing",
    ),
    (
        "item max zero",
        ("rubrics", 0, "items", 1, "max"),
        0,
        "rubrics[0].items[1].max",
        "max must be greater than 0",
    ),
    (
        "item max negative",
        ("rubrics", 0, "items", 4, "max"),
        -10,
        "rubrics[0].items[4].max",
        "max must be greater than 0",
    ),
    (
        "alias used twice",
        ("rubrics", 0, "items", 1, "aliases"),
        ["目标"],
        "rubrics[0].items",
        "item name or alias '目标' is used twice",
    ),
    (
        "unknown aggregate",
        ("rubrics", 0, "aggregate"),
        "median",
        "rubrics[0].aggregate",
        "Input should be 'mean' or 'trimmed_mean'",
    ),
    (
        "trim_min_judges under 3",
        ("rubrics", 0, "trim_min_judges"),
        2,
        "rubrics[0].trim_min_judges",
        "greater than or equal to 3",
    ),
    ("duplicate venue key", ("venues", 2), VENUE_0, "venues[2].key", "duplicate key 'ruiquan'"),
    (
        "duplicate group key",
        ("groups", 3),
        {"key": "leaders", "platform": "dingtalk"},
        "groups[3].key",
        "duplicate key 'leaders'",
    ),
    (
        "duplicate rubric key",
        ("rubrics", 1),
        {"key": "fujian3", "items": [{"name": "总体", "max": 100}]},
        "rubrics[1].key",
        "duplicate key 'fujian3'",
    ),
    (
        "duplicate deadline key",
        ("deadlines", 1),
        {**REPORT, "title": "另一份"},
        "deadlines[1].key",
        "duplicate key 'report'",
    ),
    (
        "duplicate digest key",
        ("digests", 1),
        WEEKLY,
        "digests[1].key",
        "duplicate key 'weekly'",
    ),
    (
        "duplicate person name",
        ("people", 11),
        {"name": "申毅", "roles": ["judge"]},
        "people[11].name",
        "duplicate name '申毅'",
    ),
    (
        "duplicate person name after removing padding",
        ("people", 11),
        {"name": "申  毅"},
        "people[11].name",
        "duplicate name '申毅'",
    ),
    (
        "duplicate wecom_userid",
        ("people", 1, "wecom_userid"),
        "lixuebin",
        "people[1].wecom_userid",
        "'lixuebin' is also 李学斌's id",
    ),
    (
        "wecom_userid differing only in case",
        ("people", 1, "wecom_userid"),
        "LiXueBin",
        "people[1].wecom_userid",
        "'LiXueBin' is also 李学斌's id",
    ),
    (
        "two groups on one chat",
        ("groups", 1, "chat_id"),
        "wrRuiquan",
        "groups[1].chat_id",
        "'wrRuiquan' is also group ruiquan's chat_id",
    ),
    (
        "duplicate dingtalk_userid",
        ("people", 7, "dingtalk_userid"),
        "ding-dangpanfeng",
        "people[7].dingtalk_userid",
        "'ding-dangpanfeng' is also 党攀峰's id",
    ),
    (
        "judge listed twice",
        ("venues", 1, "judges"),
        ["党攀峰", "党 攀峰", "韩晓斌"],
        "venues[1].judges",
        "listed twice: 党攀峰",
    ),
    ("empty contestants", ("venues", 0, "contestants"), [], "venues[0].contestants", "empty"),
    (
        "typo at the top",
        ("timezon",),
        "Asia/Shanghai",
        "timezon",
        "unknown key (check the spelling against config.example.toml)",
    ),
    ("typo in [server]", ("server",), {"prot": 8080}, "server.prot", "unknown key"),
    ("typo in [database]", ("database", "uri"), "sqlite://", "database.uri", "unknown key"),
    ("typo in [wecom]", ("wecom", "aes_key"), "x", "wecom.aes_key", "unknown key"),
    ("typo in [dingtalk]", ("dingtalk", "appkey"), "x", "dingtalk.appkey", "unknown key"),
    ("typo in [outbox]", ("outbox",), {"rate": 20}, "outbox.rate", "unknown key"),
    ("typo in a group", ("groups", 0, "hook"), "x", "groups[0].hook", "unknown key"),
    (
        "typo in a person",
        ("people", 2, "wechat_userid"),
        "x",
        "people[2].wechat_userid",
        "unknown key",
    ),
    ("typo in a venue", ("venues", 1, "judge"), ["申毅"], "venues[1].judge", "unknown key"),
    (
        "typo in a rubric item",
        ("rubrics", 0, "items", 0, "alias"),
        ["目"],
        "rubrics[0].items[0].alias",
        "unknown key",
    ),
    (
        "typo in a deadline",
        ("deadlines", 0, "remind"),
        ["1d"],
        "deadlines[0].remind",
        "unknown key",
    ),
    (
        "typo in a digest",
        ("digests", 0, "crontab"),
        "0 17 * * fri",
        "digests[0].crontab",
        "unknown key",
    ),
    (
        "typo in a phase",
        ("campaigns", 0, "phases", 0, "begin"),
        "2022-01-25",
        "campaigns[0].phases[0].begin",
        "unknown key",
    ),
    ("bad timezone", ("timezone",), "Asia/Beijing", "timezone", "unknown time zone 'Asia/Beijing'"),
    ("empty timezone", ("timezone",), "", "timezone", "unknown time zone ''"),
    (
        "bad offset in a venue's remind_before",
        ("venues", 0, "remind_before"),
        ["1h", "3x"],
        "venues[0].remind_before",
        "'3x' is not an offset like 3d, 2h or 30m",
    ),
    (
        "negative offset in a deadline's remind_before",
        ("deadlines", 0, "remind_before"),
        "-1d",
        "deadlines[0].remind_before",
        "'-1d' is not an offset like 3d, 2h or 30m",
    ),
    (
        "bad outbox grace",
        ("outbox",),
        {"grace": "6 hours"},
        "outbox.grace",
        "'6 hours' is not an offset",
    ),
    ("remind_eve hour 25", ("venues", 0, "remind_eve"), "25:00", "venues[0].remind_eve", "hour"),
    (
        "remind_eve in words",
        ("venues", 0, "remind_eve"),
        "six pm",
        "venues[0].remind_eve",
        "Invalid isoformat string: 'six pm'",
    ),
    (
        "cron with a misspelt weekday",
        ("digests", 0, "cron"),
        "0 17 * * fryday",
        "digests[0].cron",
        "not a crontab expression: ",
    ),
    (
        "cron with four fields",
        ("digests", 0, "cron"),
        "0 17 * *",
        "digests[0].cron",
        "not a crontab expression: Wrong number of fields; got 4, expected 5",
    ),
    (
        "EncodingAESKey too short",
        ("wecom", "encoding_aes_key"),
        "short",
        "wecom.encoding_aes_key",
        "an EncodingAESKey has exactly 43 characters",
    ),
    (
        "robot EncodingAESKey too long",
        ("wecom", "robot_encoding_aes_key"),
        "a" * 44,
        "wecom.robot_encoding_aes_key",
        "an EncodingAESKey has exactly 43 characters",
    ),
    (
        "missing venue rubric",
        ("venues", 0, "rubric"),
        DELETE,
        "venues[0].rubric",
        "required key is missing",
    ),
    (
        "missing group platform",
        ("groups", 1, "platform"),
        DELETE,
        "groups[1].platform",
        "required key is missing",
    ),
    (
        "missing person name",
        ("people", 3, "name"),
        DELETE,
        "people[3].name",
        "required key is missing",
    ),
    ("missing deadline due", ("deadlines", 0, "due"), DELETE, "deadlines[0].due", "required key"),
    ("missing digest cron", ("digests", 0, "cron"), DELETE, "digests[0].cron", "required key"),
    (
        "unset variable",
        ("wecom", "secret"),
        "${EDUBOT_SECRET}",
        "wecom.secret",
        "environment variable EDUBOT_SECRET is not set",
    ),
    (
        "unset variable inside a list",
        ("groups", 1, "secret"),
        "SEC${EDUBOT_YUHONG_SECRET}",
        "groups[1].secret",
        "environment variable EDUBOT_YUHONG_SECRET is not set",
    ),
    (
        "unset variable in a nested list",
        ("rubrics", 0, "items", 2, "aliases"),
        ["${ALIAS}"],
        "rubrics[0].items[2].aliases[0]",
        "environment variable ALIAS is not set",
    ),
    ("bad datetime", ("venues", 0, "starts_at"), "tomorrow", "venues[0].starts_at", "datetime"),
    (
        "phase ends before it starts",
        ("campaigns", 0, "phases", 0, "end"),
        "2022-01-24 00:00",
        "campaigns[0].phases[0]",
        "end is before start",
    ),
    ("unknown platform", ("groups", 0, "platform"), "feishu", "groups[0].platform", "'wecom'"),
    ("unknown role", ("people", 0, "roles"), ["host", "boss"], "people[0].roles[1]", "'judge'"),
    ("port out of range", ("server",), {"port": 70000}, "server.port", "65535"),
    (
        "unit under an unknown unit",
        ("units",),
        [{"name": "杜桥中学", "parent": "瑞泉中学共同体"}],
        "units[0].parent",
        "unknown unit (not in [[units]]) '瑞泉中学共同体'",
    ),
    (
        "unit listed twice",
        ("units",),
        [{"name": "杜桥中学"}, {"name": "杜桥 中学"}],
        "units[1].name",
        "duplicate name '杜桥中学'",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "key", "phrase"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_config(path: Path_, value: Any, key: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(edited(path, value))
    assert (error.value.file, error.value.key) == (SOURCE, key)
    assert phrase in error.value.problem
    assert str(error.value) == f"{SOURCE}: {key}: {error.value.problem}"


# --- interpolation -----------------------------------------------------------------------

INTERPOLATION = [
    ("variable", "${EDUBOT_SECRET}", {"EDUBOT_SECRET": "s3cret"}, "s3cret"),
    ("default when unset", "${EDUBOT_SECRET:-fallback}", {}, "fallback"),
    ("set wins over default", "${EDUBOT_SECRET:-fallback}", {"EDUBOT_SECRET": "s3cret"}, "s3cret"),
    ("empty default", "${EDUBOT_SECRET:-}", {}, ""),
    (
        "set but empty takes the default, as in the shell",
        "${EDUBOT_SECRET:-x}",
        {"EDUBOT_SECRET": ""},
        "x",
    ),
    ("set but empty without default", "${EDUBOT_SECRET}", {"EDUBOT_SECRET": ""}, ""),
    ("two in one string", "${A}-${B:-b}", {"A": "a"}, "a-b"),
    ("inside text", "key=${KEY}&x=1", {"KEY": "k1"}, "key=k1&x=1"),
    ("no variable", "plain $HOME {x}", {}, "plain $HOME {x}"),
]


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [case[1:] for case in INTERPOLATION],
    ids=[case[0] for case in INTERPOLATION],
)
def test_interpolation(template: str, env: dict[str, str], expected: str) -> None:
    assert load(edited(("wecom", "secret"), template), env).wecom.secret == expected


def test_interpolation_in_lists_and_nested_tables() -> None:
    data = base()
    data["groups"][0]["webhook"] = "https://qyapi.weixin.qq.com/send?key=${RQ_KEY}"
    data["venues"][0]["results_to"] = ["${RESULTS:-leaders}"]
    env = {"RQ_KEY": "abc-123"}
    settings = load(data, env)
    assert settings.group("ruiquan").webhook == "https://qyapi.weixin.qq.com/send?key=abc-123"
    assert settings.venue("ruiquan").results_to == ("leaders",)


def test_interpolation_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDUBOT_TEST_SECRET", "from-environ")
    data = edited(("wecom", "secret"), "${EDUBOT_TEST_SECRET}")
    assert settings_from_mapping(data).wecom.secret == "from-environ"


# --- time zones --------------------------------------------------------------------------

SHANGHAI_0800_UTC = datetime(2022, 2, 13, 0, 0, tzinfo=UTC)
DATETIMES = [
    ("string with a space", "Asia/Shanghai", "2022-02-13 08:00", SHANGHAI_0800_UTC),
    ("string with T and seconds", "Asia/Shanghai", "2022-02-13T08:00:00", SHANGHAI_0800_UTC),
    ("string with slashes", "Asia/Shanghai", "2022/02/13 08:00", SHANGHAI_0800_UTC),
    (
        "naive datetime (TOML local)",
        "Asia/Shanghai",
        datetime(2022, 2, 13, 8, 0),  # noqa: DTZ001
        SHANGHAI_0800_UTC,
    ),
    (
        "explicit offset is kept",
        "Asia/Shanghai",
        "2022-02-13T08:00:00+00:00",
        datetime(2022, 2, 13, 8, 0, tzinfo=UTC),
    ),
    (
        "aware datetime is kept",
        "Asia/Shanghai",
        datetime(2022, 2, 13, 8, 0, tzinfo=UTC),
        datetime(2022, 2, 13, 8, 0, tzinfo=UTC),
    ),
    ("config in UTC", "UTC", "2022-02-13 08:00", datetime(2022, 2, 13, 8, 0, tzinfo=UTC)),
    (
        "config in Urumqi",
        "Asia/Urumqi",
        "2022-02-13 08:00",
        datetime(2022, 2, 13, 2, 0, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize(
    ("timezone", "written", "expected"),
    [case[1:] for case in DATETIMES],
    ids=[case[0] for case in DATETIMES],
)
def test_datetimes_get_the_config_time_zone(
    timezone: str, written: object, expected: datetime
) -> None:
    data = edited(("timezone",), timezone)
    data["venues"][0]["starts_at"] = written
    data["deadlines"][0]["due"] = written
    data["campaigns"][0]["phases"][0]["end"] = written
    settings = load(data)
    values = [
        settings.venue("ruiquan").starts_at,
        settings.deadline("report").due,
        settings.campaigns[0].phases[0].end,
    ]
    assert all(value.tzinfo is not None for value in values)
    assert [value.astimezone(UTC) for value in values] == [expected] * 3


def test_naive_0800_in_shanghai_is_midnight_utc() -> None:
    starts_at = load(base()).venue("ruiquan").starts_at
    assert starts_at.utcoffset() == timedelta(hours=8)
    assert starts_at.astimezone(UTC) == datetime(2022, 2, 13, 0, 0, tzinfo=UTC)
    assert starts_at.astimezone(UTC).hour == 0


# --- names with padding ------------------------------------------------------------------


def test_padded_names_are_normalised() -> None:
    data = base()
    data["people"].append({"name": "李  强", "roles": ["judge", "principal"], "unit": "杜桥  中学"})
    data["venues"][0]["judges"] = ["申毅", "梁飞", " 李　强 "]
    data["venues"][0]["host"] = "李 强"
    data["venues"][0]["contestants"] = ["瑞泉中学 共同体", "杜桥中学"]
    data["deadlines"][0]["submitters"] = ["李  强", "杜桥 中学"]
    settings = load(data)
    assert (settings.person("李强").roles, settings.person("李强").unit) == (
        ("judge", "principal"),
        "杜桥中学",
    )
    venue = settings.venue("ruiquan")
    assert (venue.host, venue.judges, venue.contestants) == (
        "李强",
        ("申毅", "梁飞", "李强"),
        ("瑞泉中学共同体", "杜桥中学"),
    )
    assert settings.deadline("report").submitters == ("李强", "杜桥中学")


def test_single_strings_become_lists() -> None:
    data = base()
    data["venues"][0]["results_to"] = "leaders"
    data["venues"][0]["remind_before"] = "30m"
    data["rubrics"][0]["tie_break"] = "unrounded"
    settings = load(data)
    venue = settings.venue("ruiquan")
    assert (venue.results_to, venue.remind_before) == (("leaders",), ("30m",))
    assert settings.rubric("fujian3").tie_break == ("unrounded",)


# --- config.example.toml -----------------------------------------------------------------


def test_example_config_loads_with_every_section() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert settings.source == str(EXAMPLE)
    assert settings.timezone == "Asia/Shanghai"
    sections = {
        "units": len(settings.units),
        "groups": len(settings.groups),
        "people": len(settings.people),
        "rubrics": len(settings.rubrics),
        "venues": len(settings.venues),
        "deadlines": len(settings.deadlines),
        "digests": len(settings.digests),
        "campaigns": len(settings.campaigns),
    }
    assert sections == {
        "units": 6,
        "groups": 5,
        "people": 13,
        "rubrics": 1,
        "venues": 2,
        "deadlines": 5,
        "digests": 1,
        "campaigns": 1,
    }
    assert settings.group("ruiquan").webhook == "ruiquan-demo-key"  # the ${…:-default}
    assert settings.wecom.corp_id == ""
    assert settings.rubric("fujian3").total_max == 100
    assert settings.venue("ruiquan").starts_at.astimezone(UTC) == SHANGHAI_0800_UTC


def _documented(model: type[BaseModel], tables: list[dict[str, Any]]) -> set[str]:
    keys = {key for table in tables for key in table}
    return set(model.model_fields) - keys


SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("server", ServerSettings),
    ("database", DatabaseSettings),
    ("wecom", WeComSettings),
    ("dingtalk", DingTalkSettings),
    ("outbox", OutboxSettings),
    ("units", UnitConfig),
    ("groups", GroupConfig),
    ("people", PersonConfig),
    ("rubrics", RubricConfig),
    ("venues", VenueConfig),
    ("deadlines", DeadlineConfig),
    ("digests", DigestConfig),
    ("campaigns", CampaignConfig),
]


@pytest.mark.parametrize(("section", "model"), SECTIONS, ids=[s for s, _ in SECTIONS])
def test_example_config_documents_every_key(section: str, model: type[BaseModel]) -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    value = raw[section]
    tables = value if isinstance(value, list) else [value]
    assert _documented(model, tables) == set()


def test_example_config_documents_nested_and_top_level_keys() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(Settings.model_fields) - {"source"} - set(raw) == set()
    items = [item for rubric in raw["rubrics"] for item in rubric["items"]]
    phases = [phase for c in raw["campaigns"] for phase in c["phases"]]
    assert _documented(RubricItemConfig, items) == set()
    assert _documented(PhaseConfig, phases) == set()


# --- load_settings -----------------------------------------------------------------------

MINIMAL_TOML = """\
timezone = "Asia/Shanghai"

[[people]]
name = "申毅"
roles = ["judge"]

[[rubrics]]
key = "r"
items = [{ name = "总体", max = 100 }]

[[venues]]
key = "f"
title = "论坛"
starts_at = 2022-02-13T08:00:00
rubric = "r"
judges = ["申毅"]
contestants = ["瑞泉中学"]
"""

Writer = Callable[[Path], None]
UNREADABLE: list[tuple[str, Writer | None, str]] = [
    ("missing file", None, "cannot read the file (No such file or directory)"),
    ("a directory", lambda p: p.mkdir(), "cannot read the file"),
    (
        "invalid TOML",
        lambda p: p.write_text("[server\nport = 1", encoding="utf-8"),
        "not valid TOML: ",
    ),
    (
        "duplicate TOML key",
        lambda p: p.write_text("timezone = 'UTC'\ntimezone = 'UTC'\n", encoding="utf-8"),
        "not valid TOML: ",
    ),
    (
        "GBK, not UTF-8",
        lambda p: p.write_bytes('[[people]]\nname = "申毅"\n'.encode("gbk")),
        "the file is not UTF-8",
    ),
]


@pytest.mark.parametrize(
    ("write", "problem"),
    [case[1:] for case in UNREADABLE],
    ids=[case[0] for case in UNREADABLE],
)
def test_load_settings_names_the_file(tmp_path: Path, write: Writer | None, problem: str) -> None:
    path = tmp_path / "edubot.toml"
    if write is not None:
        write(path)
    with pytest.raises(ConfigError) as error:
        load_settings(path, env={})
    assert (error.value.file, error.value.key) == (str(path), "")
    assert error.value.problem.startswith(problem)
    assert str(error.value) == f"{path}: {error.value.problem}"


def test_load_settings_reads_toml_local_datetimes_in_the_config_zone(tmp_path: Path) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text(MINIMAL_TOML, encoding="utf-8")
    settings = load_settings(path, env={})
    assert settings.source == str(path)
    assert settings.venue("f").starts_at.astimezone(UTC) == SHANGHAI_0800_UTC


def test_load_settings_accepts_a_utf8_bom(tmp_path: Path) -> None:
    # Windows editors save "UTF-8 with BOM"; it is still UTF-8.
    path = tmp_path / "edubot.toml"
    path.write_bytes(MINIMAL_TOML.encode("utf-8-sig"))
    assert load_settings(path, env={}).timezone == "Asia/Shanghai"


def test_load_settings_reports_a_bad_key_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "edubot.toml"
    path.write_text(MINIMAL_TOML.replace('judges = ["申毅"]', 'judges = ["申义"]'), "utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(path, env={})
    assert (error.value.file, error.value.key) == (str(path), "venues[0].judges[0]")
    assert str(error.value).startswith(f"{path}: venues[0].judges[0]: unknown judge")


# --------------------------------------------------------------------------- old key names


def _old_names() -> dict[str, Any]:
    """The seed campaign written with the keys of earlier releases ([[forums]])."""
    data = campaign()
    data["forums"] = data.pop("venues")
    data["digests"] = [
        {
            "key": "w",
            "title": "周汇报",
            "cron": "0 17 * * fri",
            "to": ["leaders"],
            "forums": ["ruiquan"],
        }
    ]
    return data


def test_files_of_earlier_releases_still_load() -> None:
    settings = settings_from_mapping(_old_names())
    assert [v.key for v in settings.venues] == ["ruiquan", "yuhong"]
    assert settings.digests[0].venues == ("ruiquan",)


def test_mistakes_in_an_old_file_name_its_own_keys() -> None:
    data = _old_names()
    data["forums"][0]["judges"][0] = "张伟力"
    with pytest.raises(ConfigError, match=r"forums\[0\]\.judges\[0\]: unknown judge"):
        settings_from_mapping(data)


def test_old_and_new_name_together_is_refused() -> None:
    data = campaign()
    data["forums"] = data["venues"]
    with pytest.raises(ConfigError, match="'forums' is the old name of 'venues'; keep only"):
        settings_from_mapping(data)


def test_a_half_updated_file_is_told_the_key_it_wrote() -> None:
    """Top level still [[forums]], the digest already venues: each error names its own key."""
    data = _old_names()
    data["digests"][0] = {**data["digests"][0], "venues": ["ruiquan", "nope"]}
    del data["digests"][0]["forums"]
    with pytest.raises(ConfigError, match=r"digests\[0\]\.venues\[1\]: unknown venue 'nope'"):
        settings_from_mapping(data)


@pytest.mark.parametrize(
    ("database", "data_dir", "url", "folder"),
    [
        pytest.param(
            '[database]\nurl = "sqlite:///run/edubot.db"\n',
            '[server]\ndata_dir = "files"\n',
            "sqlite:///{base}/run/edubot.db",
            "{base}/files",
            id="relative",
        ),
        pytest.param("", "", "sqlite:///{base}/edubot.db", "{base}/edubot-data", id="defaults"),
        pytest.param(
            '[database]\nurl = "sqlite:////srv/e.db"\n',
            '[server]\ndata_dir = "/srv/data"\n',
            "sqlite:////srv/e.db",
            "/srv/data",
            id="absolute-unchanged",
        ),
        pytest.param(
            '[database]\nurl = "postgresql://u:p@db/edubot"\n',
            "",
            "postgresql://u:p@db/edubot",
            "{base}/edubot-data",
            id="server-url-unchanged",
        ),
    ],
)
def test_relative_paths_are_taken_from_the_config_file_not_the_working_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database: str,
    data_dir: str,
    url: str,
    folder: str,
) -> None:
    base = tmp_path / "etc"
    base.mkdir()
    path = base / "edubot.toml"
    path.write_text(f"{MINIMAL_TOML}\n{database}{data_dir}", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    settings = load_settings("../etc/edubot.toml", env={})

    assert settings.database.url == url.format(base=base)
    assert settings.server.data_dir == folder.format(base=base)


def test_a_deadline_may_name_a_listed_unit_nobody_belongs_to() -> None:
    data = edited(("deadlines", 0, "submitters"), ["瑞泉中学", "某某中学"])
    data["units"] = [{"name": "某某中学", "parent": "瑞泉中学"}, {"name": "瑞泉中学"}]
    settings = load(data)
    assert [u.parent for u in settings.units] == ["瑞泉中学", ""]
