"""The intake campaign: many venues, judges and contestants, and the judges' 评分 messages.

Pure builders: a config mapping (written as TOML for ``edubot serve``), the list of score
messages (each a distinct, valid sheet: judge × contestant, never a refusal), and the
encrypted WeCom app callbacks that carry them, built with the emulator's ``players`` the way
the platform would build them. Building is done before any timing: crypto on the platform
side is not the bot's cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.devtools.emulator.players import wecom_app_callback
from bot.platforms.wecom.crypto import WeComCrypto

CORP_ID = "wwbench000001"
AGENT_ID = "1000002"
TOKEN = "benchtoken"
AES_KEY = "YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaGJlbmNoYmU"  # 43 characters, 32 bytes
RUBRIC_ITEMS = (
    ("工作目标", 20),
    ("任务措施", 25),
    ("工作阶段进展", 20),
    ("工作预期成效", 25),
    ("个人表现", 10),
)

# Contestant names are Chinese only (digits in a name would read as scores).
_SYLLABLES = "东南西北中前后上下左右金木水火土春夏秋冬梅兰竹菊松柏杨柳山河"


@dataclass(frozen=True, slots=True)
class Shape:
    """How big the intake campaign is."""

    venues: int = 24
    judges_per_venue: int = 8
    contestants_per_venue: int = 60

    @property
    def judges(self) -> int:
        return self.venues * self.judges_per_venue

    @property
    def sheets(self) -> int:
        return self.judges * self.contestants_per_venue


def wecom_section(api_base: str = "http://127.0.0.1:9") -> dict[str, str]:
    """The benchmarks' ``[wecom]`` app: the keys the load generator signs and encrypts with;
    by default an API base nothing answers on (the benchmark sends nothing there)."""
    return {
        "corp_id": CORP_ID,
        "agent_id": AGENT_ID,
        "secret": "bench-secret",
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "api_base": api_base,
    }


def contestant_name(index: int) -> str:
    """0 → 东东中学, 1 → 东南中学 …: unique for index < len(_SYLLABLES) ** 2."""
    first, second = divmod(index, len(_SYLLABLES))
    return f"{_SYLLABLES[first]}{_SYLLABLES[second]}中学"


def judge_userid(venue: int, judge: int) -> str:
    return f"judge-{venue:03d}-{judge:02d}"


def intake_config(shape: Shape, *, db_url: str, data_dir: str) -> dict[str, Any]:
    """A config mapping: each judge sits on one venue, so a bare contestant name resolves."""
    people: list[dict[str, Any]] = [
        {"name": "教育股", "roles": ["organizer"], "wecom_userid": "org"}
    ]
    venues: list[dict[str, Any]] = []
    contestants = [contestant_name(i) for i in range(shape.contestants_per_venue)]
    for v in range(shape.venues):
        judges = []
        for j in range(shape.judges_per_venue):
            name = f"评委{v:03d}{j:02d}"
            judges.append(name)
            people.append({"name": name, "roles": ["judge"], "wecom_userid": judge_userid(v, j)})
        venues.append(
            {
                "key": f"v{v:03d}",
                "title": "学校管理论坛",
                "starts_at": "2026-03-01 08:00",
                "location": f"第{v + 1}分",
                "rubric": "fujian3",
                "judges": judges,
                "contestants": contestants,
                "remind_eve": "",
                "remind_before": [],
            }
        )
    return {
        "timezone": "Asia/Shanghai",
        "server": {"data_dir": data_dir},
        "database": {"url": db_url, "busy_timeout_ms": 10000},
        "wecom": wecom_section(),
        "people": people,
        "rubrics": [
            {
                "key": "fujian3",
                "name": "学校管理论坛评分表",
                "decimals": 1,
                "allow_total": True,
                "outlier_threshold": 100,
                "items": [{"name": n, "max": m} for n, m in RUBRIC_ITEMS],
            }
        ],
        "venues": venues,
    }


@dataclass(frozen=True, slots=True)
class ScoreMessage:
    userid: str
    text: str
    msg_id: str


def score_messages(shape: Shape, count: int) -> list[ScoreMessage]:
    """``count`` distinct sheets, round-robin over every judge so all venues fill evenly."""
    count = min(count, shape.sheets)
    out: list[ScoreMessage] = []
    for k in range(count):
        judge_index, contestant = k % shape.judges, k // shape.judges
        venue, judge = divmod(judge_index, shape.judges_per_venue)
        items = [
            str(m - 1 - (k + i) % 4) for i, (_n, m) in enumerate(RUBRIC_ITEMS)
        ]  # always valid, varied
        out.append(
            ScoreMessage(
                judge_userid(venue, judge),
                f"评分 {contestant_name(contestant)} {' '.join(items)}",
                str(7_300_000_000_000_000_000 + k),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """One callback exactly as WeCom would POST it: query string and body."""

    query: dict[str, str]
    body: bytes


def build_requests(messages: list[ScoreMessage], *, create_time: int) -> list[PreparedRequest]:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    out = []
    for message in messages:
        query, body = wecom_app_callback(
            crypto,
            to_user=CORP_ID,
            from_user=message.userid,
            content=message.text,
            msg_id=message.msg_id,
            agent_id=AGENT_ID,
            create_time=create_time,
        )
        out.append(PreparedRequest(query, body))
    return out


def save_requests(requests: list[PreparedRequest], path: Path) -> None:
    data = [{"query": r.query, "body": r.body.decode("utf-8")} for r in requests]
    path.write_text(json.dumps(data), encoding="utf-8")


def load_requests(path: Path) -> list[PreparedRequest]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [PreparedRequest(item["query"], item["body"].encode("utf-8")) for item in data]


def rubric_config() -> dict[str, Any]:
    """The 附件3 rubric as a ``[[rubrics]]`` entry."""
    return {
        "key": "fujian3",
        "name": "学校管理论坛评分表",
        "decimals": 1,
        "items": [{"name": n, "max": m} for n, m in RUBRIC_ITEMS],
    }


def toml_text(data: dict[str, Any]) -> str:
    """A small TOML writer for the config mappings built here (tables, arrays of tables)."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    for key, value in scalars.items():
        lines.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
    for key, value in data.items():
        if isinstance(value, list):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
