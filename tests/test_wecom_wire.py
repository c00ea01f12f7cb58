"""WeCom wire format: the public crypto vectors, tampering, envelopes, fixtures, replies."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import defusedxml.ElementTree as safe_xml  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import Forbidden, MalformedRequest, RequestError
from bot.platforms.wecom.crypto import WeComCrypto
from bot.platforms.wecom.wire import (
    parse_app_envelope,
    parse_app_message,
    parse_robot_envelope,
    parse_robot_message,
    render_app_reply,
    render_robot_reply,
    verify_url,
)
from handlers.messages import Attachment, InboundMessage, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "wecom"

# wechatpy tests/test_crypto.py (PROTOCOLS §1.3)
TOKEN = "123456"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP_ID = "wx49f0ab532d5d035a"

URL_QUERY = {
    "msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
    "timestamp": "1411443780",
    "nonce": "437374425",
    "echostr": (
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    ),
}

MSG_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
MSG_TIMESTAMP = "1411525903"
MSG_NONCE = "461056294"
MSG_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeD"
    "XzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBu"
    "g/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZl"
    "F3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb"
    "++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
# The POST body wechatpy's test decrypts, byte for byte.
MSG_ENVELOPE = (
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    f"<Encrypt><![CDATA[{MSG_ENCRYPT}]]></Encrypt>\n"
    "<AgentID><![CDATA[1]]></AgentID>\n"
    "</xml>"
).encode()

VECTOR_NOW = datetime.fromtimestamp(int(MSG_TIMESTAMP), UTC)
FIVE_MINUTES = timedelta(minutes=5)


@pytest.fixture
def app_crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


@pytest.fixture
def robot_crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, "")


def test_vector_encrypt_is_the_428_character_value() -> None:
    assert len(MSG_ENCRYPT) == 428


# --- URL verification -------------------------------------------------------------------


def test_verify_url_returns_the_decrypted_echostr(app_crypto: WeComCrypto) -> None:
    assert verify_url(app_crypto, URL_QUERY, now=VECTOR_NOW, tolerance=None) == (
        "5927782489442352469"
    )


def test_verify_url_with_tolerance_accepts_a_fresh_timestamp(app_crypto: WeComCrypto) -> None:
    now = datetime.fromtimestamp(int(URL_QUERY["timestamp"]) + 60, UTC)
    assert verify_url(app_crypto, URL_QUERY, now=now, tolerance=FIVE_MINUTES) == (
        "5927782489442352469"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nonce", "437374424"),
        ("msg_signature", "dd6b9c95b495b3f7e2901bfbc76c664930ffdb97"),
        ("timestamp", "1411443781"),
        ("echostr", URL_QUERY["echostr"].replace("4ByG", "4ByH")),
    ],
    ids=["public-bad-nonce-vector", "signature", "timestamp", "echostr"],
)
def test_verify_url_refuses_a_tampered_query(
    app_crypto: WeComCrypto, field: str, value: str
) -> None:
    query = {**URL_QUERY, field: value}
    with pytest.raises(Forbidden):
        verify_url(app_crypto, query, now=VECTOR_NOW, tolerance=None)


def test_verify_url_refuses_a_stale_timestamp(app_crypto: WeComCrypto) -> None:
    now = datetime.fromtimestamp(int(URL_QUERY["timestamp"]) + 301, UTC)
    with pytest.raises(Forbidden):
        verify_url(app_crypto, URL_QUERY, now=now, tolerance=FIVE_MINUTES)


@pytest.mark.parametrize("missing", ["msg_signature", "timestamp", "nonce", "echostr"])
def test_verify_url_needs_every_parameter(app_crypto: WeComCrypto, missing: str) -> None:
    query = {k: v for k, v in URL_QUERY.items() if k != missing}
    with pytest.raises(MalformedRequest, match=missing):
        verify_url(app_crypto, query, now=VECTOR_NOW, tolerance=None)


# --- the public message vector and its tampered variants --------------------------------


def test_message_vector_end_to_end(app_crypto: WeComCrypto) -> None:
    encrypt = parse_app_envelope(MSG_ENVELOPE)
    assert encrypt == MSG_ENCRYPT
    plaintext = app_crypto.open(
        MSG_SIGNATURE, MSG_TIMESTAMP, MSG_NONCE, encrypt, now=VECTOR_NOW, tolerance=FIVE_MINUTES
    )
    assert parse_app_message(plaintext) == InboundMessage(
        platform="wecom",
        channel="wecom_app",
        message_id="4363689963896700987",
        sender_id="messense",
        text="test",
        chat_type="private",
        sent_at=datetime(2014, 9, 24, 2, 31, 43, tzinfo=UTC),
    )


def _flip(s: str, index: int) -> str:
    replacement = "B" if s[index] != "B" else "C"
    return s[:index] + replacement + s[index + 1 :]


@pytest.mark.parametrize(
    ("signature", "nonce", "encrypt"),
    [
        (_flip(MSG_SIGNATURE, 0), MSG_NONCE, MSG_ENCRYPT),
        (MSG_SIGNATURE, "461056295", MSG_ENCRYPT),
        (MSG_SIGNATURE, MSG_NONCE, _flip(MSG_ENCRYPT, 100)),
        (MSG_SIGNATURE.upper()[:-1], MSG_NONCE, MSG_ENCRYPT),
        ("", MSG_NONCE, MSG_ENCRYPT),
    ],
    ids=["signature", "nonce", "encrypt-char", "truncated-signature", "empty-signature"],
)
def test_tampered_message_is_forbidden(
    app_crypto: WeComCrypto, signature: str, nonce: str, encrypt: str
) -> None:
    with pytest.raises(Forbidden):
        app_crypto.open(signature, MSG_TIMESTAMP, nonce, encrypt, now=VECTOR_NOW, tolerance=None)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False), (86400, False)],
    ids=["same-second", "edge-late", "edge-early", "late", "early", "a-day-late"],
)
def test_message_timestamp_window(app_crypto: WeComCrypto, offset: int, accepted: bool) -> None:
    now = VECTOR_NOW + timedelta(seconds=offset)

    def open_it() -> str:
        return app_crypto.open(
            MSG_SIGNATURE, MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT, now=now, tolerance=FIVE_MINUTES
        )

    if accepted:
        assert "messense" in open_it()
    else:
        with pytest.raises(Forbidden):
            open_it()


def test_app_message_opened_as_robot_is_forbidden(robot_crypto: WeComCrypto) -> None:
    # Same token and key, receive id "" instead of the corp id.
    with pytest.raises(Forbidden, match="receiveid"):
        robot_crypto.open(
            MSG_SIGNATURE, MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT, now=VECTOR_NOW, tolerance=None
        )


def test_robot_reply_opened_as_app_is_forbidden(
    app_crypto: WeComCrypto, robot_crypto: WeComCrypto
) -> None:
    body = render_robot_reply(robot_crypto, Reply("好"), stream_id="s1", timestamp="1700000000")
    envelope = json.loads(body)
    with pytest.raises(Forbidden, match="receiveid"):
        app_crypto.open(
            envelope["msgsignature"],
            envelope["timestamp"],
            envelope["nonce"],
            envelope["encrypt"],
            now=datetime.fromtimestamp(1700000000, UTC),
            tolerance=None,
        )


@pytest.mark.parametrize(
    "encrypt",
    [
        "not base64 at all!",
        MSG_ENCRYPT[:-4] + "@@@=",
        base64.b64encode(b"\x00" * 17).decode(),
        base64.b64encode(b"\x00" * 33).decode(),
        "",
    ],
    ids=["not-base64", "bad-alphabet", "17-bytes", "33-bytes", "empty"],
)
def test_unreadable_encrypt_with_a_valid_signature_is_malformed(
    app_crypto: WeComCrypto, encrypt: str
) -> None:
    signature = app_crypto.signature(MSG_TIMESTAMP, MSG_NONCE, encrypt)
    with pytest.raises(MalformedRequest):
        app_crypto.open(
            signature, MSG_TIMESTAMP, MSG_NONCE, encrypt, now=VECTOR_NOW, tolerance=None
        )


def test_flipped_encrypt_with_a_recomputed_signature_never_escapes(
    app_crypto: WeComCrypto,
) -> None:
    # The signature is right but the ciphertext is garbage: 400 or 403, never a crash.
    # CBC has no integrity of its own, so a flip in the first block decrypts "fine" with
    # one altered character ("<xml>" -> "<@ml>"); the XML parser must then refuse it.
    def open_and_parse(encrypt: str) -> InboundMessage | None:
        signature = app_crypto.signature(MSG_TIMESTAMP, MSG_NONCE, encrypt)
        plaintext = app_crypto.open(
            signature, MSG_TIMESTAMP, MSG_NONCE, encrypt, now=VECTOR_NOW, tolerance=None
        )
        return parse_app_message(plaintext)

    for index in range(0, len(MSG_ENCRYPT) - 2, 7):
        with pytest.raises(RequestError):
            open_and_parse(_flip(MSG_ENCRYPT, index))


# --- app envelope -----------------------------------------------------------------------


def test_app_envelope_strips_whitespace_around_encrypt() -> None:
    body = b"<xml><ToUserName>x</ToUserName><Encrypt>\n  abc=  \n</Encrypt></xml>"
    assert parse_app_envelope(body) == "abc="


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<xml><Encrypt>&b;</Encrypt></xml>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<xml><Encrypt>&e;</Encrypt></xml>"""
PLAIN_DTD = b"""<!DOCTYPE xml><xml><Encrypt>abc=</Encrypt></xml>"""


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"<xml><Encrypt>abc=</Encrypt>",
        b"<xml><ToUserName>x</ToUserName></xml>",
        b"<xml><Encrypt></Encrypt></xml>",
        b"<xml><Encrypt>   </Encrypt></xml>",
        b"<root><Encrypt>abc=</Encrypt></root>",
        b'{"encrypt": "abc="}',
        b"\xff\xfe\x00<",
        b'<?xml version="1.0" encoding="bogus"?><xml><Encrypt>a</Encrypt></xml>',
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        PLAIN_DTD,
    ],
    ids=[
        "empty",
        "garbage",
        "unclosed",
        "no-encrypt",
        "empty-encrypt",
        "blank-encrypt",
        "wrong-root",
        "json",
        "binary",
        "unknown-encoding",
        "billion-laughs",
        "external-entity",
        "doctype",
    ],
)
def test_bad_app_envelope_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_app_envelope(body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_app_envelope_fuzz_never_escapes(body: bytes) -> None:
    with contextlib.suppress(MalformedRequest):
        assert isinstance(parse_app_envelope(body), str)


# --- app messages -----------------------------------------------------------------------

WECOM_CORP = "ww5f3c8a1b2d4e6f70"


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


APP_FIXTURES: dict[str, InboundMessage | None] = {
    "app_text.xml": InboundMessage(
        platform="wecom",
        channel="wecom_app",
        message_id="7301234567890123456",
        sender_id="zhangwei",
        text="评分 3 92",
        chat_type="private",
        sent_at=_at(1700000000),
    ),
    "app_image.xml": InboundMessage(
        platform="wecom",
        channel="wecom_app",
        message_id="7301234567890123457",
        sender_id="lina",
        text="",
        chat_type="private",
        sent_at=_at(1700000060),
        attachment=Attachment("image", "1J3ZB_e6Xp2Ns9uQwR0cT4vYk8aLmF7dHgIoPqS5rUtVxWyZ"),
    ),
    "app_voice.xml": InboundMessage(
        platform="wecom",
        channel="wecom_app",
        message_id="7301234567890123458",
        sender_id="wangfang",
        text="",
        chat_type="private",
        sent_at=_at(1700000120),
        attachment=Attachment("voice", "3vQk8_TzYw1Rb5nXc7mLp2dHf9gJs4aE6uKoIqW0yZtBiNrC"),
    ),
    "app_event_enter_agent.xml": None,
}


@pytest.mark.parametrize("name", sorted(APP_FIXTURES), ids=sorted(APP_FIXTURES))
def test_app_fixture_parses(name: str) -> None:
    plaintext = (FIXTURES / name).read_text(encoding="utf-8")
    assert parse_app_message(plaintext) == APP_FIXTURES[name]


def test_every_app_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.glob("*.xml")} == set(APP_FIXTURES)


def _app_xml(msg_type: str, body: str, *, msg_id: str | None = "123") -> str:
    msg_id_xml = f"<MsgId>{msg_id}</MsgId>" if msg_id is not None else ""
    return (
        f"<xml><ToUserName><![CDATA[{WECOM_CORP}]]></ToUserName>"
        "<FromUserName><![CDATA[zhangwei]]></FromUserName>"
        f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{body}{msg_id_xml}<AgentID>1000002</AgentID></xml>"
    )


def _app_msg(**changes: object) -> InboundMessage:
    fields: dict[str, object] = {
        "platform": "wecom",
        "channel": "wecom_app",
        "message_id": "123",
        "sender_id": "zhangwei",
        "text": "",
        "chat_type": "private",
        "sent_at": _at(1700000000),
    }
    fields.update(changes)
    return InboundMessage(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            _app_xml("text", "<Content><![CDATA[  评分 3 92 ]]></Content>"),
            _app_msg(text="  评分 3 92 "),
        ),
        (_app_xml("text", "<Content><![CDATA[]]></Content>"), _app_msg(text="")),
        (
            _app_xml("text", "<Content><![CDATA[hi]]></Content>", msg_id=None),
            _app_msg(text="hi", message_id="zhangwei:1700000000"),
        ),
        (
            _app_xml(
                "file", "<MediaId><![CDATA[m1]]></MediaId><FileName><![CDATA[表.xlsx]]></FileName>"
            ),
            _app_msg(attachment=Attachment("file", "m1", "表.xlsx")),
        ),
        (
            _app_xml("file", "<MediaId><![CDATA[m1]]></MediaId>"),
            _app_msg(attachment=Attachment("file", "m1")),
        ),
        (
            _app_xml(
                "voice",
                "<MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format>"
                "<Recognition><![CDATA[查询进度]]></Recognition>",
            ),
            _app_msg(text="查询进度", attachment=Attachment("voice", "v1")),
        ),
        (
            _app_xml("video", "<MediaId><![CDATA[vid]]></MediaId><ThumbMediaId>t</ThumbMediaId>"),
            _app_msg(attachment=Attachment("video", "vid")),
        ),
        (
            _app_xml("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y>"),
            _app_msg(),
        ),
        (
            _app_xml(
                "event", "<Event><![CDATA[click]]></Event><EventKey>k</EventKey>", msg_id=None
            ),
            None,
        ),
    ],
    ids=[
        "text-kept-verbatim",
        "empty-text",
        "no-msgid-falls-back",
        "file-with-name",
        "file-without-name",
        "voice-recognition",
        "video",
        "location-unknown",
        "click-event",
    ],
)
def test_app_message_kinds(xml: str, expected: InboundMessage | None) -> None:
    assert parse_app_message(xml) == expected


@pytest.mark.parametrize(
    "xml",
    [
        "",
        "not xml",
        "<xml><MsgType>text</MsgType>",
        _app_xml("text", "").replace("<MsgType><![CDATA[text]]></MsgType>", ""),
        _app_xml("text", "<Content>x</Content>").replace(
            "<FromUserName><![CDATA[zhangwei]]></FromUserName>", ""
        ),
        _app_xml("text", "<Content>x</Content>").replace("1700000000", "soon"),
        _app_xml("text", "<Content>x</Content>").replace("1700000000", "9" * 30),
        _app_xml("text", "<Content>x</Content>").replace("<CreateTime>1700000000</CreateTime>", ""),
        _app_xml("text", ""),
        _app_xml("image", "<PicUrl>http://x</PicUrl>"),
        _app_xml("image", "<MediaId></MediaId>"),
        "<!DOCTYPE xml [<!ENTITY a 'b'>]><xml><MsgType>text</MsgType></xml>",
        "<other/>",
        "<xml>\ud800</xml>",
    ],
    ids=[
        "empty",
        "garbage",
        "unclosed",
        "no-msgtype",
        "no-sender",
        "createtime-not-number",
        "createtime-huge",
        "no-createtime",
        "text-without-content",
        "image-without-mediaid",
        "image-empty-mediaid",
        "entity",
        "wrong-root",
        "lone-surrogate",
    ],
)
def test_bad_app_message_is_malformed(xml: str) -> None:
    with pytest.raises(MalformedRequest):
        parse_app_message(xml)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_app_message_fuzz_never_escapes(xml: str) -> None:
    with contextlib.suppress(MalformedRequest):
        parse_app_message(xml)


# --- app passive reply ------------------------------------------------------------------


def _open_app_reply(crypto: WeComCrypto, body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    envelope = {child.tag: child.text or "" for child in safe_xml.fromstring(body)}
    plaintext = crypto.open(
        envelope["MsgSignature"],
        envelope["TimeStamp"],
        envelope["Nonce"],
        envelope["Encrypt"],
        now=datetime.fromtimestamp(int(envelope["TimeStamp"]), UTC),
        tolerance=FIVE_MINUTES,
    )
    message = {child.tag: child.text or "" for child in safe_xml.fromstring(plaintext)}
    return envelope, message


@pytest.mark.parametrize(
    "text",
    [
        "已记录：第 3 组 92 分",
        "tricky ]]> end",
        "]]>]]>",
        "<b>&amp; not markup</b>",
        "多行\n第二行",
        "",
    ],
    ids=["chinese", "cdata-end", "only-cdata-ends", "markup", "newline", "empty"],
)
def test_app_reply_round_trips(app_crypto: WeComCrypto, text: str) -> None:
    body = render_app_reply(
        app_crypto,
        Reply(text),
        to_user="zhangwei",
        from_user=CORP_ID,
        timestamp="1700000000",
        nonce="n0nce",
    )
    envelope, message = _open_app_reply(app_crypto, body)
    assert list(envelope) == ["Encrypt", "MsgSignature", "TimeStamp", "Nonce"]
    assert envelope["TimeStamp"] == "1700000000"
    assert envelope["Nonce"] == "n0nce"
    assert message == {
        "ToUserName": "zhangwei",
        "FromUserName": CORP_ID,
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": text,
    }


def test_app_reply_drops_characters_xml_cannot_carry(app_crypto: WeComCrypto) -> None:
    body = render_app_reply(
        app_crypto, Reply("a\x00b\x07c\td"), to_user="u", from_user=CORP_ID, timestamp="1"
    )
    _, message = _open_app_reply(app_crypto, body)
    assert message["Content"] == "abc\td"


def test_app_reply_without_nonce_gets_a_random_signed_one(app_crypto: WeComCrypto) -> None:
    bodies = [
        render_app_reply(app_crypto, Reply("x"), to_user="u", from_user=CORP_ID, timestamp="1")
        for _ in range(2)
    ]
    nonces = [_open_app_reply(app_crypto, body)[0]["Nonce"] for body in bodies]
    assert all(nonces)
    assert nonces[0] != nonces[1]


def test_the_same_answer_never_encrypts_the_same_way_twice(app_crypto: WeComCrypto) -> None:
    """The IV is fixed by the protocol, so the 16 random leading bytes are all that keeps
    equal answers from giving equal ciphertexts (and equal first blocks)."""
    sealed = [app_crypto.seal("已记录", nonce="n", timestamp="1")[0] for _ in range(50)]
    assert len(set(sealed)) == 50
    assert len({base64.b64decode(s)[:16] for s in sealed}) == 50
    assert {app_crypto.decrypt(s) for s in sealed} == {"已记录"}


def test_app_reply_refuses_a_non_numeric_timestamp(app_crypto: WeComCrypto) -> None:
    with pytest.raises(ValueError, match="digits"):
        render_app_reply(
            app_crypto, Reply("x"), to_user="u", from_user=CORP_ID, timestamp="1</TimeStamp>"
        )


# --- robot envelope ---------------------------------------------------------------------


def test_robot_envelope_returns_encrypt() -> None:
    assert parse_robot_envelope(b'{"encrypt": "abc="}') == "abc="


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"[]",
        b'"abc"',
        b"{}",
        b'{"encrypt": 5}',
        b'{"encrypt": ""}',
        b'{"encrypt": null}',
        b'{"Encrypt": "abc="}',
        b"\xff\xfe\xfd",
        b"[" * 100000,
        b"<xml><Encrypt>abc=</Encrypt></xml>",
    ],
    ids=[
        "empty",
        "garbage",
        "array",
        "string",
        "no-encrypt",
        "number",
        "empty-encrypt",
        "null",
        "wrong-case",
        "bad-utf8",
        "deep-nesting",
        "xml",
    ],
)
def test_bad_robot_envelope_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_robot_envelope(body)


# --- robot messages ---------------------------------------------------------------------

RESPONSE_URL = "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RESPONSECODE"
GROUP_CHAT = "wrkSFfCgAAq3kL9mN2pQ4rS6tUvWxYz"
IMG_BASE = "https://ww-aibot-img-1258476243.cos.ap-guangzhou.myqcloud.com/BHoPdA3/"

ROBOT_FIXTURES: dict[str, InboundMessage] = {
    "robot_text_group.json": InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
        sender_id="zhangwei",
        text="@教研助手 评分 3 92",
        chat_type="group",
        chat_id=GROUP_CHAT,
        reply_url=RESPONSE_URL + "1",
    ),
    "robot_text_single.json": InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AJ=",
        sender_id="lina",
        text="帮助",
        chat_type="private",
        reply_url=RESPONSE_URL + "2",
    ),
    "robot_image_single.json": InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AK=",
        sender_id="lina",
        text="",
        chat_type="private",
        attachment=Attachment("image", IMG_BASE + "7571665296904772241"),
        reply_url=RESPONSE_URL + "3",
    ),
    "robot_file_single.json": InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AL=",
        sender_id="wangfang",
        text="",
        chat_type="private",
        attachment=Attachment("file", IMG_BASE + "7571665296904772242"),
        reply_url=RESPONSE_URL + "4",
    ),
    "robot_voice_single.json": InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AM=",
        sender_id="wangfang",
        text="查询本周未提交的学校",
        chat_type="private",
        reply_url=RESPONSE_URL + "5",
    ),
    "robot_mixed_group.json": InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id="CAIQ16HMjQYY/NGagIOAgAMgq4KM0AN=",
        sender_id="zhangwei",
        text="@教研助手 提交 第二周教研记录\n请查收",
        chat_type="group",
        chat_id=GROUP_CHAT,
        attachment=Attachment("image", IMG_BASE + "7571665296904772243"),
        reply_url=RESPONSE_URL + "6",
    ),
    "robot_event_enter_chat.json": InboundMessage(
        platform="wecom",
        channel="wecom_robot",
        message_id="CAIQrcjMjQYY/NGagIOAgAMg6PDc/w0=",
        sender_id="lina",
        text="",
        chat_type="private",
        sent_at=_at(1700000000),
    ),
}


@pytest.mark.parametrize("name", sorted(ROBOT_FIXTURES), ids=sorted(ROBOT_FIXTURES))
def test_robot_fixture_parses(name: str) -> None:
    plaintext = (FIXTURES / name).read_text(encoding="utf-8")
    assert parse_robot_message(plaintext) == ROBOT_FIXTURES[name]


def test_every_robot_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == set(ROBOT_FIXTURES)


def _robot(**changes: object) -> str:
    data: dict[str, object] = {
        "msgid": "m1",
        "aibotid": "bot",
        "chattype": "single",
        "from": {"userid": "u1"},
        "response_url": RESPONSE_URL,
        "msgtype": "text",
        "text": {"content": "hi"},
    }
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)  # ASCII escapes, as a "\ud800" would arrive


_DROP = object()


@pytest.mark.parametrize(
    ("plaintext", "text", "attachment"),
    [
        (_robot(msgtype="stream", stream={"id": "s1"}), "", None),
        (_robot(msgtype="template_card_event", text=_DROP), "", None),
        (_robot(msgtype="mixed", mixed={"msg_item": []}), "", None),
        (
            _robot(
                msgtype="mixed",
                mixed={
                    "msg_item": [
                        {"msgtype": "file", "file": {"url": "f1"}},
                        {"msgtype": "image", "image": {"url": "i1"}},
                        {"msgtype": "text", "text": {"content": "说明"}},
                    ]
                },
            ),
            "说明",
            Attachment("file", "f1"),
        ),
        (_robot(text={"content": ""}), "", None),
    ],
    ids=["stream-refresh", "unknown-type", "empty-mixed", "mixed-first-attachment", "empty-text"],
)
def test_robot_message_kinds(plaintext: str, text: str, attachment: Attachment | None) -> None:
    message = parse_robot_message(plaintext)
    assert (message.message_id, message.sender_id, message.text, message.attachment) == (
        "m1",
        "u1",
        text,
        attachment,
    )


def test_robot_message_without_response_url_has_no_reply_url() -> None:
    assert parse_robot_message(_robot(response_url=_DROP)).reply_url == ""


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "nope",
        "[]",
        _robot(msgid=_DROP),
        _robot(msgid=""),
        _robot(msgid=12),
        _robot(**{"from": _DROP}),
        _robot(**{"from": "u1"}),
        _robot(**{"from": {}}),
        _robot(**{"from": {"userid": None}}),
        _robot(chattype="channel"),
        _robot(chattype=None),
        _robot(chattype="group"),
        _robot(chattype="group", chatid=5),
        _robot(text=_DROP),
        _robot(text={"content": 3}),
        _robot(text="hi"),
        _robot(msgtype="voice", voice={}),
        _robot(msgtype="image", image={"url": ""}),
        _robot(msgtype="file", file=None),
        _robot(msgtype="mixed", mixed={"msg_item": "x"}),
        _robot(msgtype="mixed", mixed={"msg_item": [1]}),
        _robot(msgtype="mixed", mixed={"msg_item": [{"msgtype": "text"}]}),
        _robot(response_url=["x"]),
        _robot(create_time="yesterday"),
        _robot(create_time=10**30),
        _robot(create_time=True),
        _robot(text={"content": "@助手 \ud800"}),
        _robot(**{"from": {"userid": "\udc00"}}),
    ],
    ids=[
        "empty",
        "garbage",
        "array",
        "no-msgid",
        "empty-msgid",
        "numeric-msgid",
        "no-from",
        "from-string",
        "from-without-userid",
        "null-userid",
        "unknown-chattype",
        "null-chattype",
        "group-without-chatid",
        "numeric-chatid",
        "text-missing",
        "text-content-number",
        "text-not-object",
        "voice-without-content",
        "image-empty-url",
        "file-null",
        "mixed-items-not-list",
        "mixed-item-not-object",
        "mixed-text-without-body",
        "response-url-list",
        "create-time-word",
        "create-time-huge",
        "create-time-bool",
        "lone-surrogate-in-text",
        "lone-surrogate-in-userid",
    ],
)
def test_bad_robot_message_is_malformed(plaintext: str) -> None:
    with pytest.raises(MalformedRequest):
        parse_robot_message(plaintext)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
_robot_keys = ["msgid", "chattype", "chatid", "from", "msgtype", "text", "image", "file"]
_robot_keys += ["voice", "mixed", "response_url", "create_time"]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_robot_keys), _json_values, max_size=len(_robot_keys))
    | _json_values
)
def test_robot_message_fuzz_never_escapes(value: object) -> None:
    with contextlib.suppress(MalformedRequest):
        assert isinstance(parse_robot_message(json.dumps(value)), InboundMessage)


# --- robot passive reply ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["已记录：第 3 组 92 分", '引号 " 和反斜杠 \\', ""], ids=["chinese", "escapes", "empty"]
)
def test_robot_reply_round_trips(robot_crypto: WeComCrypto, text: str) -> None:
    body = render_robot_reply(
        robot_crypto, Reply(text), stream_id="stream-1", timestamp="1700000000", nonce="n0nce"
    )
    envelope = json.loads(body)
    assert sorted(envelope) == ["encrypt", "msgsignature", "nonce", "timestamp"]
    assert (envelope["timestamp"], envelope["nonce"]) == ("1700000000", "n0nce")
    plaintext = robot_crypto.open(
        envelope["msgsignature"],
        envelope["timestamp"],
        envelope["nonce"],
        envelope["encrypt"],
        now=datetime.fromtimestamp(1700000000, UTC),
        tolerance=FIVE_MINUTES,
    )
    assert json.loads(plaintext) == {
        "msgtype": "stream",
        "stream": {"id": "stream-1", "finish": True, "content": text},
    }
    # ensure_ascii=False: WeCom shows the stream content as is, so no \\u escapes.
    assert "\\u" not in plaintext
