"""DingTalk wire format: the signature vector, fixtures, malformed bodies, fuzz, replies."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import Forbidden, MalformedRequest
from bot.platforms.dingtalk.sign import dingtalk_sign, signed_robot_url, verify_dingtalk_request
from bot.platforms.dingtalk.wire import parse_message
from handlers.messages import Attachment, InboundMessage

FIXTURES = Path(__file__).parent / "fixtures" / "dingtalk"

# Self-computed vector (PROTOCOLS §4): no official one is published.
SECRET = "SEC000test"
TIMESTAMP_MS = "1700000000000"
SIGN = "1hLl2KkRX3rps9FaitIUwaac+CtAFEaP345jvdrTL7c="
SIGN_QUOTED = "1hLl2KkRX3rps9FaitIUwaac%2BCtAFEaP345jvdrTL7c%3D"
SIGNED_AT = datetime.fromtimestamp(1700000000, UTC)


# --- signatures -------------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", [TIMESTAMP_MS, 1700000000000], ids=["str", "int"])
def test_sign_vector(timestamp: str | int) -> None:
    assert dingtalk_sign(SECRET, timestamp) == SIGN


def test_signed_robot_url_carries_the_quoted_vector() -> None:
    url = signed_robot_url("http://127.0.0.1:9/", "tok+en", SECRET, SIGNED_AT)
    assert url == (
        "http://127.0.0.1:9/robot/send?access_token=tok%2Ben"
        f"&timestamp={TIMESTAMP_MS}&sign={SIGN_QUOTED}"
    )


def test_signed_robot_url_without_secret_is_unsigned() -> None:
    url = signed_robot_url("http://127.0.0.1:9", "tok", "", SIGNED_AT)
    assert url == "http://127.0.0.1:9/robot/send?access_token=tok"


@pytest.mark.parametrize(
    "offset",
    [timedelta(0), timedelta(hours=1), -timedelta(hours=1), timedelta(minutes=59, seconds=59)],
    ids=["same-instant", "one-hour-late", "one-hour-early", "just-inside"],
)
def test_verify_accepts_within_an_hour(offset: timedelta) -> None:
    verify_dingtalk_request(TIMESTAMP_MS, SIGN, SECRET, now=SIGNED_AT + offset)


@pytest.mark.parametrize(
    ("timestamp", "sign", "secret", "offset"),
    [
        (TIMESTAMP_MS, SIGN, SECRET, timedelta(hours=1, seconds=1)),
        (TIMESTAMP_MS, SIGN, SECRET, -timedelta(hours=1, seconds=1)),
        (TIMESTAMP_MS, SIGN.replace("+", " "), SECRET, timedelta(0)),
        (TIMESTAMP_MS, SIGN_QUOTED, SECRET, timedelta(0)),
        (TIMESTAMP_MS, SIGN, "SEC000tesT", timedelta(0)),
        ("1700000000001", SIGN, SECRET, timedelta(0)),
        ("soon", SIGN, SECRET, timedelta(0)),
        (TIMESTAMP_MS, "", SECRET, timedelta(0)),
        (TIMESTAMP_MS, "签名", SECRET, timedelta(0)),
    ],
    ids=[
        "late-by-1h1s",
        "early-by-1h1s",
        "plus-became-space",
        "still-url-encoded",
        "wrong-secret",
        "other-timestamp",
        "timestamp-not-number",
        "empty-sign",
        "non-ascii-sign",
    ],
)
def test_verify_refuses(timestamp: str, sign: str, secret: str, offset: timedelta) -> None:
    with pytest.raises(Forbidden):
        verify_dingtalk_request(timestamp, sign, secret, now=SIGNED_AT + offset)


# --- fixtures ---------------------------------------------------------------------------


def _ms(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


GROUP_CID = "cidX8aJq3Nf7Lw2kPzR5tYv1bQ=="
SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session="

EXPECTED: dict[str, InboundMessage] = {
    "text_group.json": InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id="msgQ7rT2wY5uI8oP1aS4dF6gH9jK0lZ==",
        sender_id="021547364528",
        text=" 评分 3 92",
        chat_type="group",
        chat_id=GROUP_CID,
        sent_at=_ms(1700000000000),
        sender_name="张伟",
        reply_url=SESSION + "8c2f4e6a1b3d5f7092a4c6e8b0d2f4a6",
        reply_url_expires_at=_ms(1700005400000),
    ),
    "text_private.json": InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id="msgW3eR6tY9uI2oP5aS8dF1gH4jK7lZ==",
        sender_id="manager4821",
        text="帮助",
        chat_type="private",
        sent_at=_ms(1700000060000),
        sender_name="李娜",
        reply_url=SESSION + "1a3c5e7b9d0f2a4c6e8b0d2f4a6c8e0b",
        reply_url_expires_at=_ms(1700005460000),
    ),
    "picture_private.json": InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id="msgE5rT8yU1iO4pA7sD0fG3hJ6kL9zX==",
        sender_id="manager4821",
        text="",
        chat_type="private",
        sent_at=_ms(1700000120000),
        sender_name="李娜",
        attachment=Attachment(
            "image",
            "mIofN681YE3f/+m+NntqpWGYT6hgV8K0wBTXWn4KY4ZpZkXhQGGhJ7AEoUTkHWkGcB5fj2cj4A==",
        ),
        reply_url=SESSION + "2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a",
        reply_url_expires_at=_ms(1700005520000),
    ),
    "file_private.json": InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id="msgR2tY5uI8oP1aS4dF7gH0jK3lZ6xC==",
        sender_id="teacher0937",
        text="",
        chat_type="private",
        sent_at=_ms(1700000180000),
        sender_name="王芳",
        attachment=Attachment(
            "file",
            "mIofN681YE3f/+m+NntqpT5Lk0nHs2wU5JhZqv3XyP1Ld8Ra6Cc0VbN9MeO7IuY4TgF2WdQ==",
            "第二周教研记录.xlsx",
        ),
        reply_url=SESSION + "3c5e7a9b1d3f5a7c9e1b3d5f7a9c1e3b",
        reply_url_expires_at=_ms(1700005580000),
    ),
    "audio_private.json": InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id="msgT6yU9iO2pA5sD8fG1hJ4kL7zX0cV==",
        sender_id="teacher0937",
        text="查询本周未提交的学校",
        chat_type="private",
        sent_at=_ms(1700000240000),
        sender_name="王芳",
        attachment=Attachment(
            "voice",
            "mIofN681YE3f/+m+NntqpSx8Wv2Bn5Mk1Jh7Gf4Dd3Ss6Aa9Pp0Oo2Ii5Uu8Yy1Tt4Rr7EeA==",
        ),
        reply_url=SESSION + "4d6f8b0c2e4a6c8e0b2d4f6a8c0e2b4d",
        reply_url_expires_at=_ms(1700005640000),
    ),
    "richtext_group.json": InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id="msgY1uI4oP7aS0dF3gH6jK9lZ2xC5vB==",
        sender_id="021547364528",
        text=" 提交 第二周教研记录\n请查收",
        chat_type="group",
        chat_id=GROUP_CID,
        sent_at=_ms(1700000300000),
        sender_name="张伟",
        attachment=Attachment(
            "image", "mIofN681YE3f/+m+NntqpQ0aZ9sX8dC7fV6gB5hN4jM3kL2pO1iU0yT9rE8wQ7A=="
        ),
        reply_url=SESSION + "5e7a9c1d3f5b7d9f1c3e5a7b9d1f3c5e",
        reply_url_expires_at=_ms(1700005700000),
    ),
    "video_private.json": InboundMessage(
        platform="dingtalk",
        channel="dingtalk",
        message_id="msgU2iO5pA8sD1fG4hJ7kL0zX3cV6bN==",
        sender_id="manager4821",
        text="",
        chat_type="private",
        sent_at=_ms(1700000360000),
        sender_name="李娜",
        attachment=Attachment(
            "video",
            "mIofN681YE3f/+m+NntqpVc9Bn8Mm7Ll6Kk5Jj4Hh3Gg2Ff1Dd0Ss9Aa8Pp7Oo6Ii5Uu4A==",
        ),
        reply_url=SESSION + "6f8b0d2e4a6c8e0a2c4e6b8d0f2a4c6e",
        reply_url_expires_at=_ms(1700005760000),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=sorted(EXPECTED))
def test_fixture_parses(name: str) -> None:
    assert parse_message((FIXTURES / name).read_bytes()) == EXPECTED[name]


def test_every_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == set(EXPECTED)


# --- field rules ------------------------------------------------------------------------


def _body(**changes: object) -> bytes:
    data = json.loads((FIXTURES / "text_group.json").read_bytes())
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()  # ASCII escapes, so "\ud800" stays representable


_DROP = object()


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        (_body(conversationType="1"), "chat_id", ""),
        (_body(conversationType="1", conversationId=_DROP), "chat_type", "private"),
        (_body(createAt=str(1700000000000)), "sent_at", _ms(1700000000000)),
        (_body(createAt=_DROP), "sent_at", None),
        (_body(sessionWebhook=_DROP, sessionWebhookExpiredTime=_DROP), "reply_url", ""),
        (_body(sessionWebhookExpiredTime=_DROP), "reply_url_expires_at", None),
        (_body(senderNick=_DROP), "sender_name", ""),
        (_body(text={"content": "  @教研助手  评分 "}), "text", "  @教研助手  评分 "),
        (_body(msgtype="markdown", text=_DROP), "text", ""),
        (_body(msgtype="interactiveCard", text=_DROP), "attachment", None),
        (
            _body(msgtype="audio", text=_DROP, content={"downloadCode": "d1"}),
            "text",
            "",
        ),
        (
            _body(msgtype="richText", text=_DROP, content={"richText": [{"type": "picture"}]}),
            "attachment",
            None,
        ),
        (
            _body(
                msgtype="richText",
                text=_DROP,
                content={
                    "richText": [
                        {"downloadCode": "p1", "type": "picture"},
                        {"downloadCode": "p2", "type": "picture"},
                    ]
                },
            ),
            "attachment",
            Attachment("image", "p1"),
        ),
    ],
    ids=[
        "private-has-no-chat-id",
        "private-needs-no-conversation-id",
        "createAt-as-string",
        "no-createAt",
        "no-session-webhook",
        "no-expiry",
        "no-nick",
        "text-kept-verbatim",
        "unknown-type-empty-text",
        "unknown-type-no-attachment",
        "audio-without-recognition",
        "richtext-picture-without-code",
        "richtext-first-picture",
    ],
)
def test_field_rules(body: bytes, field: str, expected: object) -> None:
    assert getattr(parse_message(body), field) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"\xff\xfe\xfd",
        b"[]",
        b"null",
        b'"text"',
        b"[" * 100000,
        b'{"msgId": 1' + b"0" * 5000 + b"}",
        _body(msgId=_DROP),
        _body(msgId=""),
        _body(msgId=123),
        _body(senderStaffId=_DROP),
        _body(senderStaffId=None),
        _body(msgtype=_DROP),
        _body(msgtype=["text"]),
        _body(conversationType=_DROP),
        _body(conversationType=2),
        _body(conversationType="3"),
        _body(conversationId=_DROP),
        _body(conversationId={"id": "x"}),
        _body(text=_DROP),
        _body(text=" hi"),
        _body(text={"content": None}),
        _body(createAt=1.7e12),
        _body(createAt="yesterday"),
        _body(createAt=-1),
        _body(createAt=True),
        _body(createAt=10**30),
        _body(sessionWebhookExpiredTime="later"),
        _body(sessionWebhook=5),
        _body(senderNick=["张伟"]),
        _body(msgtype="picture", text=_DROP),
        _body(msgtype="picture", content={"pictureDownloadCode": "x"}),
        _body(msgtype="file", content={"downloadCode": "d", "fileName": 3}),
        _body(msgtype="audio", content={"downloadCode": "d", "recognition": 3}),
        _body(msgtype="video", content=[]),
        _body(msgtype="richText", content={"richText": "x"}),
        _body(msgtype="richText", content={"richText": ["x"]}),
        _body(msgtype="richText", content={"richText": [{"text": 1}]}),
        _body(msgtype="richText", content={"richText": [{"downloadCode": None}]}),
        _body(text={"content": "评分\ud800"}),
        _body(senderNick="\udfff"),
        _body(msgtype="file", content={"downloadCode": "d", "fileName": "表\ud83d.xlsx"}),
    ],
    ids=[
        "empty",
        "garbage",
        "bad-utf8",
        "array",
        "null",
        "string",
        "deep-nesting",
        "huge-integer",
        "no-msgId",
        "empty-msgId",
        "numeric-msgId",
        "no-senderStaffId",
        "null-senderStaffId",
        "no-msgtype",
        "msgtype-list",
        "no-conversationType",
        "conversationType-number",
        "conversationType-3",
        "group-without-conversationId",
        "conversationId-object",
        "text-missing",
        "text-not-object",
        "text-content-null",
        "createAt-float",
        "createAt-word",
        "createAt-negative",
        "createAt-bool",
        "createAt-huge",
        "expiry-word",
        "sessionWebhook-number",
        "senderNick-list",
        "picture-without-content",
        "picture-without-downloadCode",
        "file-name-number",
        "recognition-number",
        "video-content-list",
        "richtext-not-list",
        "richtext-item-string",
        "richtext-text-number",
        "richtext-null-code",
        "lone-surrogate-in-text",
        "lone-surrogate-in-nick",
        "lone-surrogate-in-filename",
    ],
)
def test_malformed_body(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_message(body)


# --- fuzz: only an InboundMessage or MalformedRequest may come out ----------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
_OPTIONAL_KEYS = [
    "senderNick",
    "createAt",
    "sessionWebhook",
    "sessionWebhookExpiredTime",
    "atUsers",
]
_rich_item = st.fixed_dictionaries(
    {}, optional={"text": st.text(max_size=8) | _json_values, "downloadCode": _json_values}
)
_content = st.fixed_dictionaries(
    {"downloadCode": st.just("d1") | _json_values},
    optional={
        "fileName": st.text(max_size=8) | _json_values,
        "recognition": st.text(max_size=8) | _json_values,
        "richText": st.lists(_rich_item | _json_values, max_size=4) | _json_values,
    },
)
# Shaped like a real callback so the fuzz reaches the per-type branches, not just the
# first required-field check (test_fuzz_random_json covers the top level).
_plausible = st.fixed_dictionaries(
    {
        "msgId": st.just("m1"),
        "senderStaffId": st.just("s1"),
        "conversationType": st.sampled_from(["1", "2"]),
        "conversationId": st.just("c1") | _json_values,
        "msgtype": st.sampled_from(["text", "picture", "richText", "audio", "file", "video"]),
        "text": st.fixed_dictionaries({"content": st.text(max_size=8)}) | _json_values,
        "content": _content | _json_values,
    },
    optional={key: st.integers(0, 2**45) | _json_values for key in _OPTIONAL_KEYS},
)


def _parses_or_refuses(body: bytes) -> None:
    with contextlib.suppress(MalformedRequest):
        assert isinstance(parse_message(body), InboundMessage)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(body: bytes) -> None:
    _parses_or_refuses(body)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=6) | _json_values)
def test_fuzz_random_json(value: object) -> None:
    _parses_or_refuses(json.dumps(value).encode())


@settings(max_examples=200, deadline=None)
@given(_plausible)
def test_fuzz_plausible_objects(value: dict[str, object]) -> None:
    _parses_or_refuses(json.dumps(value, ensure_ascii=False).encode())
