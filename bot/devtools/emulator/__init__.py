"""A loopback emulator of the WeCom (企业微信) and DingTalk (钉钉) APIs edubot talks to.

Machines running edubot's tests, demo and benchmarks have no internet, so this package plays
both platforms: ``create_emulator_app(state)`` is a Starlette app, ``EmulatorServer`` serves
it on ``127.0.0.1`` from a thread, ``EmulatorState`` records every call and keeps the rules,
and ``players`` builds the encrypted / signed callbacks the platforms POST to the bot.

Emulated, following PROTOCOLS.md §2 and §4:

- WeCom group robot ``webhook/send`` (text, markdown, markdown_v2, image, news, file, voice,
  template_card), ``webhook/upload_media``; 20 messages per rolling minute per key (45009);
  93000 / 40008 / 44004 / 45002 / 40007.
- WeCom app ``gettoken`` (7200 s tokens by the clock, 40013 / 40001 / 40014 / 42001),
  ``message/send`` (text, markdown, textcard, file, template_card; 30 per minute per member,
  the excess answered ok and recorded ``"dropped"``; ``enable_duplicate_check``),
  ``media/upload``.
- DingTalk custom robot ``robot/send``: HMAC sign and 1-hour timestamp window (310000),
  400101, 460101 (body over 20,000 bytes), ``msgUuid`` idempotency, 20 per rolling minute
  then 410100 and a 10-minute block.
- DingTalk OpenAPI ``oauth2/accessToken``, ``robot/groupMessages/send``,
  ``robot/oToMessages/batchSend`` (≤ 20 userIds), and ``sessionWebhook`` replies (300001
  once expired).
- Files users send (``state.add_media``): WeCom app ``media/get`` (40007 unknown or older
  than 3 days, 40014 / 42001 tokens), the intelligent robot's file url (AES-encrypted with
  the robot's EncodingAESKey, valid 5 minutes, 404 after), DingTalk
  ``robot/messageFiles/download`` (HTTP 400 for an unknown downloadCode) and its
  ``downloadUrl``; ``chunked=True`` serves a file without a Content-Length.
- Faults (an errcode N times or until a time, an HTTP status, a delay) and a full outage.

Not emulated (be careful what a green test proves):

- No message is rendered: markdown, template cards, action cards and mentions are only
  shape-checked, never displayed; ``@`` mentions are not checked against group members.
- No intelligent-robot ``response_url`` endpoint, no DingTalk stream-mode gateway. Inbound
  media belongs to no particular app: any valid token may fetch any registered file.
- No DingTalk keyword or IP-allowlist security, no ``400013`` dissolved groups, no OpenAPI
  rate limits; the v1.0 error ``code`` strings are plausible, not copied from DingTalk.
- Where the docs name no errcode for a malformed field, WeCom answers 40058 / 47001 and
  DingTalk 40035; image checks (40009) are approximate.
- Tokens are returned unchanged while valid (``expires_in`` counts down), as WeCom does.
"""

from __future__ import annotations

from bot.devtools.emulator.app import create_emulator_app
from bot.devtools.emulator.records import Recorded, Upload
from bot.devtools.emulator.server import EmulatorServer
from bot.devtools.emulator.state import EmulatorState

__all__ = ["EmulatorServer", "EmulatorState", "Recorded", "Upload", "create_emulator_app"]
