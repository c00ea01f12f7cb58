"""DingTalk enterprise app robot through the OpenAPI (``api.dingtalk.com``).

Group messages go to ``/v1.0/robot/groupMessages/send`` (by ``openConversationId``),
one-to-one messages to ``/v1.0/robot/oToMessages/batchSend``. Both need an app access token,
cached here until five minutes before it expires and fetched again once if DingTalk says it
is invalid. Unlike the robot webhooks, this API reports errors with HTTP status codes and a
``{"code": "...", "message": "..."}`` body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bot.clock import Clock
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.platforms.dingtalk.render import dingtalk_app_message
from bot.platforms.tokens import TokenCache
from bot.senders.base import (
    bounded_rate_key,
    check_errcode,
    check_not_empty,
    check_size,
    check_status,
    encode_json,
    errcode_of,
    json_object,
    post_json,
    retry_after_header,
)
from bot.senders.limits import LIMITS
from handlers.messages import OutboundMessage

THROTTLE_RETRY_AFTER = 60.0
_AUTH_CODES = frozenset({"InvalidAuthentication", "invalidParameter.token.invalid"})
_THROTTLE_MARKS = ("QpsLimit", "Throttling", "flowControl")


@dataclass(frozen=True, slots=True)
class DingTalkApp:
    """Credentials of the enterprise internal app and its robot."""

    api_base: str
    app_key: str
    app_secret: str
    robot_code: str


class DingTalkTokenCache(TokenCache):
    """The app access token, shared by every app-robot send. Thread-safe."""

    def __init__(self, *, http: httpx.Client, clock: Clock, app: DingTalkApp) -> None:
        self._http = http
        self._app = app
        super().__init__(self._fetch_token, clock)

    def _fetch_token(self) -> tuple[str, int]:
        where = "dingtalk accessToken"
        body = encode_json({"appKey": self._app.app_key, "appSecret": self._app.app_secret})
        url = f"{self._app.api_base.rstrip('/')}/v1.0/oauth2/accessToken"
        response = post_json(self._http, where, url, body)
        _check_openapi_status(where, response)
        data = json_object(where, response)
        token = data.get("accessToken")
        if not isinstance(token, str) or not token:
            raise PermanentDelivery(f"{where}: no accessToken in the answer")
        try:
            return token, int(data.get("expireIn", 7200))
        except (TypeError, ValueError):
            return token, 7200


def _openapi_code(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("code", "")) if isinstance(data, dict) else ""


def _check_openapi_status(where: str, response: httpx.Response) -> None:
    if response.is_success:
        return
    code = _openapi_code(response)
    if response.status_code == 429 or any(mark in code for mark in _THROTTLE_MARKS):
        raise RetryableDelivery(
            f"{where}: throttled (HTTP {response.status_code} {code})".rstrip(),
            retry_after=retry_after_header(response) or THROTTLE_RETRY_AFTER,
        )
    if code and response.status_code < 500:
        raise PermanentDelivery(f"{where}: HTTP {response.status_code} {code}")
    check_status(where, response)


def _is_auth_failure(response: httpx.Response) -> bool:
    return response.status_code == 401 or _openapi_code(response) in _AUTH_CODES


class DingTalkAppSender:
    """App robot pushes: ``target_kind == "group"`` with an openConversationId, or
    ``"person"`` with a DingTalk userid (staffId)."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        tokens: DingTalkTokenCache,
        app: DingTalkApp,
        open_conversation_id: str = "",
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._app = app
        self._conversation = open_conversation_id

    def rate_key(self, message: OutboundMessage) -> str:
        """One rate limit per app robot."""
        return bounded_rate_key("dingtalk-app", self._app.robot_code)

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Post once through the OpenAPI, or raise a delivery error."""
        # The OpenAPI has no idempotency key; dedupe_key is unused here.
        if self._conversation:
            where, path = "dingtalk app group", "/v1.0/robot/groupMessages/send"
            payload: dict[str, Any] = {"openConversationId": self._conversation}
        else:
            where, path = "dingtalk app one-to-one", "/v1.0/robot/oToMessages/batchSend"
            if not message.target:
                raise PermanentDelivery(f"{where}: no userid to send to")
            payload = {"userIds": message.target.split("|")}
        check_not_empty(where, message)
        body = encode_json(
            {**dingtalk_app_message(message), **payload, "robotCode": self._app.robot_code}
        )
        check_size(where, len(body), LIMITS["dingtalk"])
        data = self._post(where, path, body)
        check_errcode(where, errcode_of(data), str(data.get("errmsg", "")))
        if not self._conversation:
            _check_one_to_one(where, message.target, data)

    def _post(self, where: str, path: str, body: bytes) -> dict[str, Any]:
        url = f"{self._app.api_base.rstrip('/')}{path}"
        for attempt in (1, 2):
            token = self._tokens.get()
            headers = {"x-acs-dingtalk-access-token": token}
            response = post_json(self._http, where, url, body, headers=headers)
            if attempt == 1 and _is_auth_failure(response):
                self._tokens.invalidate(token)
                continue
            _check_openapi_status(where, response)
            return json_object(where, response)
        raise AssertionError("unreachable")  # pragma: no cover


def _check_one_to_one(where: str, userid: str, data: dict[str, Any]) -> None:
    """batchSend answers 200 even when it skipped a user; look at the lists it returns. For
    several users (``a|b``) only a call that reached none of them failed: sending again
    would repeat the message to those it reached."""
    users = set(userid.split("|"))
    if users <= set(data.get("invalidStaffIdList") or []):
        raise PermanentDelivery(f"{where}: '{userid}' is not a valid staff id for this app")
    if users <= set(data.get("flowControlledStaffIdList") or []):
        raise RetryableDelivery(
            f"{where}: '{userid}' is flow-controlled", retry_after=THROTTLE_RETRY_AFTER
        )
