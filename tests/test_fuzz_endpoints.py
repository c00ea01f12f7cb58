"""Fuzzing the inbound endpoints (issue 6) through the real ASGI app.

Random bodies, queries and headers; validly signed envelopes around garbage; validly
encrypted garbage plaintexts; random JSON shapes with a good DingTalk signature. Whatever
arrives, the answer is 200, 400, 403 or 413, never a 5xx, and a request that is not
answered 200 leaves no row behind. A 200 for garbage leaves at most its inbound log row
(and, on DingTalk, the answer queued for the sessionWebhook), never a score.

The default run takes a small sample per endpoint; ``pytest -m slow`` runs 10,000 each.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient
from wechatpy.crypto.base import WeChatCipher
from wechatpy.work.crypto import PrpCrypto

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.platforms.dingtalk.sign import dingtalk_sign
from bot.platforms.wecom.crypto import WeComCrypto
from storage.db import transaction
from storage.models import InboundMessageRow, OutboxRow, ScoreRevision, ScoreSheet, Submission
from tests.conftest import make_settings
from tests.support.campaign import CORP_ID, DING_SECRET, ROBOT_AES, WECOM_AES
from tests.support.wire import APP, ROBOT, dingtalk_request, wecom_app_request, wecom_robot_request

ALLOWED = {200, 400, 403, 413}
MODELS = (InboundMessageRow, ScoreSheet, ScoreRevision, OutboxRow, Submission)

# Examples per endpoint in the default run: SQLite gets the most; the servers fewer.
SAMPLE = {"sqlite": 100, "postgresql": 30, "mariadb": 30}
LONG_RUN = 10_000


@dataclass
class Target:
    """One app on one database, and the bookkeeping every example checks against."""

    services: Services
    client: TestClient
    clock: FakeClock
    backend: str
    seen: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        with transaction(self.services.factory) as session:
            return {
                m.__name__: int(session.scalar(select(func.count()).select_from(m)) or 0)
                for m in MODELS
            }

    def new_outbox_kinds(self, after_id: int) -> list[str]:
        with transaction(self.services.factory) as session:
            return list(
                session.scalars(select(OutboxRow.target_kind).where(OutboxRow.id > after_id))
            )

    def last_outbox_id(self) -> int:
        with transaction(self.services.factory) as session:
            return int(session.scalar(select(func.max(OutboxRow.id))) or 0)


@pytest.fixture
def target(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Target]:
    services = build_services(make_settings(db_url, tmp_path), clock=clock)
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            yield Target(services, client, clock, services.engine.dialect.name)
    finally:
        services.engine.dispose()


def _sample(target: Target) -> int:
    return SAMPLE["mariadb" if target.backend == "mysql" else target.backend]


# ------------------------------------------------------------------ requests and the check


@dataclass(frozen=True)
class Seal:
    """Bytes to put in a valid WeCom envelope when the case is sent (the AES envelope draws
    its random prefix from ``random``, which strategies must not use)."""

    data: bytes
    receive_id: str
    timestamp: str


@dataclass(frozen=True)
class Case:
    """One request to send."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seal: Seal | None = None
    echo: str | None = None  # a validly encrypted URL check must answer exactly this


def _wecom_keys(path: str) -> tuple[WeComCrypto, str]:
    return (ROBOT, ROBOT_AES) if path == "/wecom/robot" else (APP, WECOM_AES)


def _envelope(path: str, encrypt: str) -> bytes:
    if path == "/wecom/robot":
        return json.dumps({"encrypt": encrypt}).encode()
    return (
        f"<xml><ToUserName>{_cdata(CORP_ID)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
    ).encode()


def _sealed(case: Case) -> Case:
    """The case with its sealed payload encrypted, signed and put in place."""
    if case.seal is None:
        return case
    crypto, aes = _wecom_keys(case.path)
    encrypt = _sealed_bytes(aes, case.seal.data, case.seal.receive_id)
    params = _signed_query(crypto, encrypt, case.seal.timestamp)
    if case.method == "GET":
        return replace(case, params={**params, "echostr": encrypt})
    return replace(case, params=params, body=_envelope(case.path, encrypt))


def check(target: Target, case: Case) -> None:
    """Send ``case``; assert the status is allowed and nothing was recorded that may not be."""
    case = _sealed(case)
    before = target.counts()
    last_outbox = target.last_outbox_id()
    if case.method == "GET":
        response = target.client.get(case.path, params=case.params, headers=case.headers)
    else:
        response = target.client.post(
            case.path, params=case.params, headers=case.headers, content=case.body
        )
    after = target.counts()
    status = response.status_code
    target.seen.append(status)
    assert status in ALLOWED, (status, response.text, case)
    assert "Traceback" not in response.text
    if case.echo is not None:
        assert (status, response.content) == (200, case.echo.encode()), case
    if status != 200 or case.method == "GET":
        assert after == before, (status, case)
        return
    assert after["ScoreSheet"] == before["ScoreSheet"], case
    assert after["ScoreRevision"] == before["ScoreRevision"], case
    assert after["Submission"] == before["Submission"], case
    assert after["InboundMessageRow"] - before["InboundMessageRow"] in (0, 1), case
    new_kinds = target.new_outbox_kinds(last_outbox)
    assert new_kinds in ([], ["session"]), (new_kinds, case)
    if new_kinds:
        assert case.path == "/dingtalk/callback"


def fuzz(target: Target, strategy: st.SearchStrategy[Case], examples: int) -> None:
    """Run ``check`` over ``examples`` cases drawn from ``strategy`` (built per test, so the
    function-scoped fixtures are shared by every example on purpose)."""

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def run(case: Case) -> None:
        check(target, case)

    run()


# ------------------------------------------------------------------ strategies

KNOWN_WECOM = ["shenyi", "liangfei", "lixuebin", "guofeng", "wangjz", "jiaoyugu"]
KNOWN_DING = ["ding-shenyi", "ding-dangpanfeng", "ding-lixuebin"]

ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
# Text as hostile as JSON can carry: controls, NUL, lone surrogates, XML/CDATA breakers.
wild_piece = (
    st.characters()
    | st.characters(categories=["Cs"])
    | st.sampled_from(["\x00", "\x1f", "\ufffe", "]]>", "<![CDATA[", "&#0;", '"', "\\", "\n", "　"])
)
wild_text = st.lists(wild_piece, max_size=30).map("".join)
plain_text = st.text(max_size=60)  # no surrogates: encodable as UTF-8
long_text = st.integers(min_value=129, max_value=2000).map(lambda n: "x" * n)
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | wild_text
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(wild_text, inner, max_size=4),
    max_leaves=12,
)
random_query = st.dictionaries(
    st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr"]) | plain_text,
    plain_text,
    max_size=5,
)
random_headers = st.dictionaries(
    st.sampled_from(["timestamp", "sign", "content-type", "x-forwarded-for"]),
    ascii_text,
    max_size=4,
)


def _timestamps(target: Target) -> st.SearchStrategy[str]:
    now = int(target.clock.now().timestamp())
    return st.sampled_from(
        [str(now), str(now - 4000), "0", "-1", "1e9", "", "99999999999999999999"]
    )


def _signed_query(crypto: WeComCrypto, encrypt: str, timestamp: str) -> dict[str, str]:
    return {
        "msg_signature": crypto.signature(timestamp, "nonce1", encrypt),
        "timestamp": timestamp,
        "nonce": "nonce1",
    }


def _raw_aes(aes_key: str, blocks: bytes) -> str:
    """Random AES blocks under the right key: decrypts to garbage with random padding."""
    key = base64.b64decode(aes_key + "=")
    return base64.b64encode(WeChatCipher(key).encrypt(blocks)).decode()


def _sealed_bytes(aes_key: str, data: bytes, receive_id: str) -> str:
    """A valid envelope around arbitrary bytes (not necessarily UTF-8)."""
    key = base64.b64decode(aes_key + "=")
    sealed = PrpCrypto(key).encrypt(data, receive_id)
    return sealed.decode() if isinstance(sealed, bytes) else str(sealed)


@st.composite
def wecom_garbage(draw: st.DrawFn, path: str, timestamp: str) -> Case:
    """A signed envelope around garbage: not base64, random AES blocks, random bytes sealed
    properly, or a proper seal for another receiver."""
    crypto, aes = _wecom_keys(path)
    method = "GET" if draw(st.booleans()) else "POST"
    kind = draw(st.sampled_from(["text", "aes", "bytes", "foreign"]))
    if kind in ("bytes", "foreign"):
        data = draw(st.binary(max_size=300)) if kind == "bytes" else b"<xml/>"
        receive_id = crypto.receive_id
        if kind == "foreign":
            receive_id = draw(
                st.sampled_from(["wxother", "", "x" * 40]).filter(lambda r: r != receive_id)
            )
        return Case(method, path, seal=Seal(data, receive_id, timestamp))
    if kind == "text":
        encrypt = draw(ascii_text)
    else:
        blocks = draw(st.integers(min_value=1, max_value=8))
        encrypt = _raw_aes(aes, draw(st.binary(min_size=16 * blocks, max_size=16 * blocks)))
    params = _signed_query(crypto, encrypt, timestamp)
    if method == "GET":
        return Case(method, path, params={**params, "echostr": encrypt})
    return Case(method, path, params=params, body=_envelope(path, encrypt))


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


def _mutate(
    draw: st.DrawFn, base: dict[str, Any], wild: dict[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """Each field of a valid message: kept (most often), replaced by something odd, or
    dropped; sometimes with extra keys."""
    data: dict[str, Any] = {}
    for key, value in base.items():
        roll = draw(st.integers(0, 19))
        if roll < 16:
            data[key] = value
        elif roll < 19:
            data[key] = draw(wild.get(key, json_value))
    if draw(st.integers(0, 9)) == 0:
        data.update(draw(st.dictionaries(wild_text, json_value, max_size=3)))
    return data


@st.composite
def app_plaintexts(draw: st.DrawFn, target: Target) -> str:
    """An app message XML: the real shape with fields missing, odd or hostile."""
    now = str(int(target.clock.now().timestamp()))
    base = {
        "ToUserName": _cdata(CORP_ID),
        "FromUserName": _cdata(draw(st.sampled_from(KNOWN_WECOM))),
        "CreateTime": now,
        "MsgType": _cdata("text"),
        "Content": _cdata(draw(plain_text)),
        "MsgId": draw(st.integers(0, 2**64).map(str)),
        "AgentID": "1000002",
    }
    wild: dict[str, st.SearchStrategy[Any]] = {
        "FromUserName": (plain_text | long_text).map(_cdata),
        "CreateTime": st.sampled_from(["", "abc", "-5", "9" * 30]) | ascii_text,
        "MsgType": st.sampled_from(["event", "image", "voice", "video", "file", "link", ""]).map(
            _cdata
        ),
        "Content": plain_text,  # raw, unescaped: may break the XML
        "MsgId": ascii_text | long_text,
    }
    data = _mutate(draw, base, wild)
    for extra in draw(st.lists(st.sampled_from(["MediaId", "FileName", "Recognition", "Event"]))):
        data[extra] = _cdata(draw(plain_text))
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in data.items() if k.isidentifier())
    return draw(st.sampled_from([f"<xml>{inner}</xml>", f"<xml>{inner}</xml>", f"<r>{inner}</r>"]))


@st.composite
def robot_plaintexts(draw: st.DrawFn) -> str:
    """A robot message JSON: the real shape with fields missing, odd or hostile."""
    msg_type = draw(st.sampled_from(["text", "text", "voice", "image", "file", "mixed", "event"]))
    base: dict[str, Any] = {
        "msgid": draw(ascii_text.filter(bool)),
        "aibotid": "aibot1",
        "chatid": draw(st.sampled_from(["wrRuiquan", "wrLeaders", "wrUnknown"])),
        "chattype": "group",
        "from": {"userid": draw(st.sampled_from(KNOWN_WECOM))},
        "response_url": "http://127.0.0.1:9/response",
        "msgtype": msg_type,
        msg_type: {
            "content": draw(wild_text),
            "url": draw(ascii_text),
            "msg_item": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "msgtype": st.sampled_from(["text", "image", "file"]),
                            "text": st.fixed_dictionaries({"content": wild_text}),
                            "image": st.fixed_dictionaries({"url": ascii_text}),
                        }
                    ),
                    max_size=3,
                )
            ),
        },
    }
    wild: dict[str, st.SearchStrategy[Any]] = {
        "msgid": long_text | json_value,
        "chatid": long_text | json_value,
        "chattype": st.sampled_from(["single", "other"]) | json_value,
        "from": st.fixed_dictionaries({"userid": wild_text | long_text}) | json_value,
        "response_url": long_text | json_value,
    }
    data = _mutate(draw, base, wild)
    return json.dumps(data, ensure_ascii=draw(st.booleans()), allow_nan=True)


@st.composite
def dingtalk_payloads(draw: st.DrawFn, target: Target) -> bytes:
    """A DingTalk callback body: random bytes, random JSON, or the real shape gone wrong."""
    kind = draw(st.sampled_from(["bytes", "json", "shape", "shape", "shape", "shape"]))
    if kind == "bytes":
        return draw(st.binary(max_size=500))
    if kind == "json":
        return json.dumps(draw(json_value), ensure_ascii=True, allow_nan=True).encode()
    now_ms = int(target.clock.now().timestamp() * 1000)
    msg_type = draw(st.sampled_from(["text", "text", "richText", "picture", "file", "audio", "x"]))
    group = draw(st.booleans())
    base: dict[str, Any] = {
        "msgId": draw(ascii_text.filter(bool)),
        "msgtype": msg_type,
        "text": {"content": draw(wild_text)},
        "content": {
            "downloadCode": draw(ascii_text),
            "fileName": draw(wild_text),
            "recognition": draw(wild_text),
            "richText": draw(st.lists(st.fixed_dictionaries({"text": wild_text}), max_size=3)),
        },
        "conversationType": "2" if group else "1",
        "conversationId": "cidYuhong" if group else "",
        "senderStaffId": draw(st.sampled_from(KNOWN_DING)),
        "senderNick": draw(wild_text),
        "sessionWebhook": "http://127.0.0.1:9/session/x",
        "sessionWebhookExpiredTime": now_ms + 5_400_000,
        "createAt": now_ms,
    }
    wild: dict[str, st.SearchStrategy[Any]] = {
        "msgId": long_text | json_value,
        "conversationType": st.sampled_from(["3", 1, 2, None]) | json_value,
        "conversationId": long_text | json_value,
        "senderStaffId": wild_text | long_text | json_value,
        "sessionWebhook": long_text.map(lambda s: "http://127.0.0.1:9/" + s * 2) | json_value,
        "sessionWebhookExpiredTime": st.sampled_from([-1, "x", 10**30, str(now_ms)]) | json_value,
        "createAt": st.sampled_from([-1, 2**63, "１２", True]) | json_value,
    }
    data = _mutate(draw, base, wild)
    return json.dumps(data, ensure_ascii=draw(st.booleans()), allow_nan=True).encode(
        "utf-8", "surrogatepass"
    )


def wecom_get_cases(target: Target) -> st.SearchStrategy[Case]:
    @st.composite
    def cases(draw: st.DrawFn) -> Case:
        path = draw(st.sampled_from(["/wecom/callback", "/wecom/robot"]))
        kind = draw(st.sampled_from(["random", "garbage", "echo"]))
        if kind == "random":
            return Case("GET", path, params=draw(random_query), headers=draw(random_headers))
        timestamp = draw(_timestamps(target))
        if kind == "garbage":
            return replace(draw(wecom_garbage(path, timestamp)), method="GET")
        text = draw(plain_text.filter(bool))
        crypto, _ = _wecom_keys(path)
        fresh = timestamp == str(int(target.clock.now().timestamp()))
        return Case(
            "GET",
            path,
            seal=Seal(text.encode(), crypto.receive_id, timestamp),
            echo=text if fresh else None,
        )

    return cases()


def wecom_post_cases(target: Target, path: str) -> st.SearchStrategy[Case]:
    crypto, _ = _wecom_keys(path)

    @st.composite
    def cases(draw: st.DrawFn) -> Case:
        kind = draw(st.sampled_from(["random", "random-body", "garbage", *["message"] * 4]))
        now = str(int(target.clock.now().timestamp()))
        if kind == "random":
            return Case(
                "POST",
                path,
                params=draw(random_query),
                headers=draw(random_headers),
                body=draw(st.binary(max_size=600)),
            )
        if kind == "random-body":
            # Signed for an Encrypt the body does not carry: 400 or 403.
            body = draw(st.binary(max_size=300) | st.just(_envelope(path, "")))
            return Case("POST", path, params=_signed_query(crypto, "x", now), body=body)
        timestamp = now if draw(st.integers(0, 4)) else draw(_timestamps(target))
        if kind == "garbage":
            return replace(draw(wecom_garbage(path, timestamp)), method="POST")
        plain = draw(robot_plaintexts() if path == "/wecom/robot" else app_plaintexts(target))
        data = plain.encode("utf-8", "surrogatepass")  # a lone surrogate: not UTF-8
        return Case("POST", path, seal=Seal(data, crypto.receive_id, timestamp))

    return cases()


def dingtalk_cases(target: Target) -> st.SearchStrategy[Case]:
    @st.composite
    def cases(draw: st.DrawFn) -> Case:
        body = draw(dingtalk_payloads(target))
        now_ms = int(target.clock.now().timestamp() * 1000)
        kind = draw(st.sampled_from(["signed", "signed", "signed", "random", "stale"]))
        if kind == "random":
            headers = draw(random_headers)
        else:
            ms = now_ms if kind == "signed" else now_ms - 3_600_001
            headers = {"timestamp": str(ms), "sign": dingtalk_sign(DING_SECRET, ms)}
        return Case("POST", "/dingtalk/callback", headers=headers, body=body)

    return cases()


ENDPOINTS: dict[str, Callable[[Target], st.SearchStrategy[Case]]] = {
    "wecom-get": wecom_get_cases,
    "wecom-app": lambda t: wecom_post_cases(t, "/wecom/callback"),
    "wecom-robot": lambda t: wecom_post_cases(t, "/wecom/robot"),
    "dingtalk": dingtalk_cases,
}


# ------------------------------------------------------------------ the runs


def test_fuzz_inbound_endpoints_never_5xx_and_record_nothing_invalid(target: Target) -> None:
    """A small sample per endpoint (one app per database keeps the default run short)."""
    for endpoint, cases in ENDPOINTS.items():
        target.seen.clear()
        fuzz(target, cases(target), _sample(target))
        if target.backend == "sqlite" and endpoint != "wecom-get":
            assert 200 in target.seen, endpoint  # the sample reached the dispatcher


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_fuzz_inbound_endpoint_long_run(target: Target, endpoint: str) -> None:
    fuzz(target, ENDPOINTS[endpoint](target), LONG_RUN)
    assert set(target.seen) >= {200, 400, 403} or endpoint == "wecom-get"


# ------------------------------------------------------------------ replays


def test_a_dingtalk_replay_within_the_hour_is_answered_once_and_after_it_refused(
    sqlite_services: Services, clock: FakeClock
) -> None:
    services = sqlite_services
    headers, body = dingtalk_request("ding-hanxiaobin", "评分 实验 80", "replay-1", clock.now())
    start = clock.now()
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        assert client.post("/dingtalk/callback", headers=headers, content=body).status_code == 200
        clock.set(start + timedelta(minutes=10))
        assert client.post("/dingtalk/callback", headers=headers, content=body).status_code == 200
        clock.set(start + timedelta(hours=1, seconds=1))
        assert client.post("/dingtalk/callback", headers=headers, content=body).status_code == 403
        # Signed for a moment more than an hour ahead of us: refused as well.
        clock.set(start - timedelta(hours=1, seconds=1))
        assert client.post("/dingtalk/callback", headers=headers, content=body).status_code == 403
    with transaction(services.factory) as session:
        rows = session.scalars(select(InboundMessageRow)).all()
        assert [(r.message_id, r.status) for r in rows] == [("replay-1", "ok")]
        assert session.scalar(select(func.count()).select_from(ScoreSheet)) == 1
        assert session.scalar(select(func.count()).select_from(ScoreRevision)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 1


# ------------------------------------------------------------------ what the fuzz found


def _app_post(target: Target, user: str, text: str, msg_id: str) -> int:
    query, body = wecom_app_request(user, text, msg_id, target.clock.now())
    return target.client.post("/wecom/callback", params=query, content=body).status_code


def _robot_post(target: Target, user: str, text: str, msg_id: str) -> int:
    query, body = wecom_robot_request(user, text, msg_id, target.clock.now())
    return target.client.post("/wecom/robot", params=query, content=body).status_code


def _ding_post(target: Target, msg_id: str, **changes: Any) -> int:
    headers, body = dingtalk_request("ding-hanxiaobin", "评分 实验 80", msg_id, target.clock.now())
    data = json.loads(body)
    for key, value in changes.items():
        if key == "content":
            data["text"]["content"] = value
        else:
            data[key] = value
    return target.client.post(
        "/dingtalk/callback", headers=headers, content=json.dumps(data).encode()
    ).status_code


UNSTORABLE: dict[str, Callable[[Target], int]] = {
    # A retry of a message whose id was longer than the column used to find no row (the
    # stored id was cut) and hit the unique index: 503 at every retry.
    "wecom-msgid-over-128": lambda t: _app_post(t, "shenyi", "评分 瑞泉中学 86", "9" * 129),
    "robot-msgid-over-128": lambda t: _robot_post(t, "shenyi", "评分 瑞泉中学 86", "r" * 129),
    "ding-msgid-over-128": lambda t: _ding_post(t, "m" * 129),
    # PostgreSQL cannot store NUL in text: 503 at every retry.
    "robot-nul-text": lambda t: _robot_post(t, "shenyi", "评分\x00 瑞泉中学 86", "r-nul"),
    "ding-nul-text": lambda t: _ding_post(t, "d-nul", content=" 评分\x00 实验 80"),
    "ding-nul-nick": lambda t: _ding_post(t, "d-nick", senderNick="a\x00b"),
    # Longer than outbox.target (512): 503 at every retry on PostgreSQL and MariaDB.
    "ding-session-webhook-over-512": lambda t: _ding_post(
        t, "d-url", sessionWebhook="http://127.0.0.1:9/" + "s" * 500
    ),
    # Longer than MariaDB's TEXT: 503 at every retry there.
    "wecom-text-over-64k": lambda t: _app_post(t, "shenyi", "评" * 22_000, "8500000001"),
    # Ids longer than their columns were cut silently; refused too, for the same reason.
    "robot-sender-over-64": lambda t: _robot_post(t, "u" * 65, "帮助", "r-long-sender"),
    "robot-chat-over-128": lambda t: _robot_post_chat(t, "c" * 129),
}


def _robot_post_chat(target: Target, chat_id: str) -> int:
    query, body = wecom_robot_request("shenyi", "帮助", "r-chat", target.clock.now(), chat_id)
    return target.client.post("/wecom/robot", params=query, content=body).status_code


def test_a_message_the_database_cannot_hold_is_refused_400_and_the_longest_one_fits(
    target: Target,
) -> None:
    before = target.counts()
    statuses = {case: [send(target) for _ in range(2)] for case, send in UNSTORABLE.items()}
    assert statuses == {case: [400, 400] for case in UNSTORABLE}
    assert target.counts() == before

    # Right at the limits: accepted, and the retry replays the stored answer.
    for _ in range(2):
        assert _app_post(target, "shenyi", "评分 瑞泉中学 86", "9" * 128) == 200
    assert _robot_post(target, "u" * 64, "帮助" + "评" * 21_000, "r" * 128) == 200
    assert _ding_post(target, "d-url", sessionWebhook="http://127.0.0.1:9/" + "s" * 493) == 200
    counts = target.counts()
    assert (counts["InboundMessageRow"], counts["ScoreSheet"], counts["OutboxRow"]) == (3, 2, 1)
