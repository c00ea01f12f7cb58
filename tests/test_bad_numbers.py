"""Bad numbers are bad input (issue 17, item 7): every number read from a request is
range-checked before use, so an absurd timestamp, ``CreateTime`` or link expiry is a 403 or
a 400 with nothing recorded, never a 503 logged as unexpected."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.app import Services, build_services, create_app
from bot.clock import FakeClock
from bot.config import settings_from_mapping
from storage.db import transaction
from storage.models import InboundMessageRow
from tests.support.campaign import CORP_ID, campaign
from tests.support.wire import APP, dingtalk_request

HUGE = "9" * 5000


@pytest.fixture
def world(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Services, TestClient]]:
    data = campaign(f"sqlite:///{tmp_path / 'n.db'}")
    data["server"] = {
        "data_dir": str(tmp_path / "data"),
        "public_url": "http://testserver",
        "link_secret": "s3cret-for-links",
    }
    services = build_services(settings_from_mapping(data), clock=clock)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield services, client
    services.engine.dispose()


def _inbound(services: Services) -> int:
    with transaction(services.factory) as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessageRow)) or 0)


def _no_unexpected(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "timestamp",
    ["9" * 310, HUGE, "²", "１７００００００００", "-1", "1e12", ""],
    ids=["310-digits", "5000-digits", "superscript", "fullwidth", "negative", "float", "empty"],
)
def test_a_dingtalk_timestamp_header_that_is_not_a_timestamp_is_403(
    world: tuple[Services, TestClient],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    timestamp: str,
) -> None:
    services, client = world
    headers, body = dingtalk_request("guofeng", "帮助", "bad-ts", clock.now())
    raw = {key.encode(): value.encode() for key, value in headers.items()}
    raw[b"timestamp"] = timestamp.encode("utf-8")  # headers travel as bytes, any bytes
    response = client.post("/dingtalk/callback", content=body, headers=list(raw.items()))
    assert response.status_code == 403
    assert _inbound(services) == 0
    _no_unexpected(caplog)


@pytest.mark.parametrize("create_time", ["9" * 20, HUGE, "²"], ids=["20-digits", "5000", "sup"])
def test_a_signed_wecom_body_with_an_absurd_create_time_is_400(
    world: tuple[Services, TestClient],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    create_time: str,
) -> None:
    services, client = world
    ts = str(int(clock.now().timestamp()))
    plain = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[lixuebin]]></FromUserName><CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content>"
        "<MsgId>9001</MsgId><AgentID>1000002</AgentID></xml>"
    )
    encrypt, signature, nonce = APP.seal(plain, timestamp=ts)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
    query = {"msg_signature": signature, "timestamp": ts, "nonce": nonce}
    response = client.post("/wecom/callback", params=query, content=body.encode())
    assert response.status_code == 400
    assert _inbound(services) == 0
    _no_unexpected(caplog)


def test_a_wecom_query_timestamp_of_5000_digits_is_403(
    world: tuple[Services, TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, client = world
    query = {"msg_signature": "0" * 40, "timestamp": HUGE, "nonce": "n", "echostr": "e"}
    assert client.get("/wecom/callback", params=query).status_code == 403
    _no_unexpected(caplog)


@pytest.mark.parametrize(
    ("exp", "sig"),
    [("²", "0" * 64), (HUGE, "0" * 64), ("9" * 16, "0" * 64), ("4102444800", "签名" * 32)],
    ids=["superscript-exp", "5000-digit-exp", "16-digit-exp", "non-ascii-sig"],
)
def test_a_download_link_with_a_bad_number_or_signature_is_403(
    world: tuple[Services, TestClient], caplog: pytest.LogCaptureFixture, exp: str, sig: str
) -> None:
    _, client = world
    response = client.get("/files/exports/x.xlsx", params={"exp": exp, "sig": sig})
    assert response.status_code == 403
    _no_unexpected(caplog)


@pytest.mark.parametrize("length", ["9" * 5000, "²"], ids=["5000-digits", "superscript"])
def test_a_content_length_that_is_not_a_length_never_crashes(
    world: tuple[Services, TestClient],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    length: str,
) -> None:
    services, client = world
    headers, body = dingtalk_request("guofeng", "帮助", "bad-len", clock.now())
    raw = [(key.encode(), value.encode()) for key, value in headers.items()]
    raw.append((b"content-length", length.encode("latin-1")))
    response = client.post("/dingtalk/callback", content=body, headers=raw)
    # 5,000 digits declare too much (413, nothing stored); a non-number declares nothing,
    # so the body is read and counted as it comes: either way no 5xx and no traceback.
    assert response.status_code == (413 if length.isascii() else 200)
    assert _inbound(services) == (0 if length.isascii() else 1)
    _no_unexpected(caplog)
