"""The emulated DingTalk APIs: custom robot, session webhooks, the app robot, user files.

``DingTalkRoutes`` answers each route the way DingTalk does: the custom robot and session
webhooks with an ``errcode`` in an HTTP 200 (signature, body and rate limits checked in
DingTalk's order under the state lock), the v1.0 OpenAPI with an HTTP status and a JSON
``code``.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.devtools.emulator import rules
from bot.devtools.emulator.calls import Call, RoutesBase, file_response
from bot.errors import Forbidden
from bot.platforms.dingtalk.sign import verify_dingtalk_request

_DINGTALK_TIMESTAMP_WINDOW_MS = 3600 * 1000


class DingTalkRoutes(RoutesBase):
    """The DingTalk endpoints, one method per route."""

    # --- custom robot and sessionWebhook --------------------------------------------------

    async def robot_send(self, request: Request) -> Response:
        """``POST /robot/send``: a custom robot message (signed when it has a secret)."""
        query = request.query_params
        token = query.get("access_token", "")
        call = await self._begin(request, "dingtalk", "robot/send", token)
        if isinstance(call, Response):
            return call
        state = self.state
        with state.lock:
            if not token:
                return self._dingtalk(call, 300005, "token is not exist: access_token is empty")
            secret = state.dingtalk_robot_secret(token)
            if secret is None:
                return self._dingtalk(call, 400101, "access_token不存在")
            if state.dingtalk_robot_blocked(token):
                return self._dingtalk(call, 410100, "send too fast, robot blocked for 10 minutes")
            if secret:
                refusal = self._dingtalk_signature(
                    query.get("timestamp", ""), query.get("sign", ""), secret
                )
                if refusal is not None:
                    return self._dingtalk(call, refusal.code, refusal.message)
            refusal = self._dingtalk_body(call)
            if refusal is not None:
                return self._dingtalk(call, refusal.code, refusal.message)
            assert call.body is not None  # checked by _dingtalk_body
            msg_uuid = call.body.get("msgUuid")
            if not isinstance(msg_uuid, str):
                msg_uuid = ""
            if msg_uuid and state.msg_uuid_seen(token, msg_uuid):
                return self._dingtalk(call, 0, status="duplicate")
            if not state.take_dingtalk_robot_slot(token):
                return self._dingtalk(
                    call, 410100, "send too fast, exceed 20 times per minute, blocked"
                )
            if msg_uuid:
                state.remember_msg_uuid(token, msg_uuid)
            return self._dingtalk(call, 0)

    async def session_send(self, request: Request) -> Response:
        """``POST /session/{session_id}``: an answer through a sessionWebhook."""
        session_id = request.path_params["session_id"]
        call = await self._begin(request, "dingtalk", "session", session_id)
        if isinstance(call, Response):
            return call
        with self.state.lock:
            if self.state.session_state(session_id) != "open":
                return self._dingtalk(call, 300001, "session webhook expired or unknown")
            refusal = self._dingtalk_body(call)
            if refusal is not None:
                return self._dingtalk(call, refusal.code, refusal.message)
            return self._dingtalk(call, 0)

    def _dingtalk_signature(self, timestamp: str, sign: str, secret: str) -> rules.Refusal | None:
        now = self.state.clock.now()
        if not (timestamp.isascii() and timestamp.isdigit()) or (
            abs(now.timestamp() * 1000 - int(timestamp)) > _DINGTALK_TIMESTAMP_WINDOW_MS
        ):
            return rules.Refusal(310000, "timestamp invalid")
        try:
            verify_dingtalk_request(timestamp, sign, secret, now=now)
        except Forbidden:
            return rules.Refusal(310000, "sign not match")
        return None

    @staticmethod
    def _dingtalk_body(call: Call) -> rules.Refusal | None:
        if len(call.raw) > rules.DINGTALK_BODY_MAX:
            return rules.Refusal(460101, "message too long, exceed 20000 bytes")
        if call.body is None:
            return rules.Refusal(40035, "缺少参数 json: body is not a JSON object")
        return rules.check_dingtalk_robot(call.body)

    # --- app robot (OpenAPI v1.0) ---------------------------------------------------------

    async def access_token(self, request: Request) -> Response:
        """``POST /v1.0/oauth2/accessToken``: an app's access token."""
        call = await self._begin(
            request,
            "dingtalk",
            "oauth2/accessToken",
            lambda b: str(b.get("appKey", "")),
            log_body_of=lambda b: {"appKey": b.get("appKey")},
        )
        if isinstance(call, Response):
            return call
        body = call.body
        if body is None:
            return self._api_error(call, 400, "InvalidParameter", "body is not a JSON object")
        for name in ("appKey", "appSecret"):
            if not isinstance(body.get(name), str) or not body[name]:
                return self._api_error(call, 400, f"Missing{name}", f"{name} is missing")
        issued = self.state.issue_dingtalk_token(body["appKey"], body["appSecret"])
        if issued is None:
            return self._api_error(
                call, 400, "InvalidAuthentication", "appKey or appSecret is wrong"
            )
        self._log(call, "ok")
        return JSONResponse({"accessToken": issued[0], "expireIn": issued[1]})

    async def group_send(self, request: Request) -> Response:
        """``POST /v1.0/robot/groupMessages/send``: the app robot, to a group."""
        return await self._dingtalk_openapi_send(request, batch=False)

    async def batch_send(self, request: Request) -> Response:
        """``POST /v1.0/robot/oToMessages/batchSend``: the app robot, to people."""
        return await self._dingtalk_openapi_send(request, batch=True)

    async def _dingtalk_openapi_send(self, request: Request, *, batch: bool) -> Response:
        def target(body: dict[str, Any]) -> str:
            if batch:
                user_ids = body.get("userIds")
                if isinstance(user_ids, list):
                    return "|".join(str(u) for u in user_ids)
                return ""
            return str(body.get("openConversationId", ""))

        api = "oToMessages/batchSend" if batch else "groupMessages/send"
        call = await self._begin(request, "dingtalk", api, target)
        if isinstance(call, Response):
            return call
        with self.state.lock:
            app = self.state.check_dingtalk_token(
                request.headers.get("x-acs-dingtalk-access-token", "")
            )
            if app is None:
                return self._api_error(call, 401, "InvalidAuthentication", "不合法的access_token")
            if call.body is None:
                return self._api_error(call, 400, "InvalidParameter", "body is not JSON")
            refusal = rules.check_dingtalk_openapi(call.body, batch=batch)
            if refusal is not None:
                return self._api_error(call, refusal.http_status, refusal.code, refusal.message)
            if call.body["robotCode"] != app.robot_code:
                return self._api_error(
                    call, 400, "InvalidParameter.robotCode", "robotCode is not this app's robot"
                )
            self._log(call, "ok")
            answer: dict[str, Any] = {"processQueryKey": secrets.token_urlsafe(24)}
            if batch:
                answer.update(invalidStaffIdList=[], flowControlledStaffIdList=[])
            return JSONResponse(answer)

    # --- files users send to the bot ------------------------------------------------------

    async def file_download(self, request: Request) -> Response:
        """``POST /v1.0/robot/messageFiles/download``: a downloadCode's url."""
        call = await self._begin(
            request,
            "dingtalk",
            "messageFiles/download",
            lambda b: str(b.get("downloadCode", ""))[:40],
        )
        if isinstance(call, Response):
            return call
        with self.state.lock:
            app = self.state.check_dingtalk_token(
                request.headers.get("x-acs-dingtalk-access-token", "")
            )
            if app is None:
                return self._api_error(call, 401, "InvalidAuthentication", "不合法的access_token")
            body = call.body
            if body is None:
                return self._api_error(call, 400, "InvalidParameter", "body is not JSON")
            for name in ("downloadCode", "robotCode"):
                if not isinstance(body.get(name), str) or not body[name]:
                    return self._api_error(call, 400, f"Missing{name}", f"{name} is missing")
            if body["robotCode"] != app.robot_code:
                return self._api_error(
                    call, 400, "InvalidParameter.robotCode", "robotCode is not this app's robot"
                )
            media = self.state.dingtalk_media(body["downloadCode"])
            if media is None:
                return self._api_error(
                    call, 400, "InvalidParameter.downloadCode", "downloadCode is invalid"
                )
            path = self.state.issue_dingtalk_download(media)
            self._log(call, "ok")
        return JSONResponse({"downloadUrl": str(request.base_url).rstrip("/") + path})

    async def file(self, request: Request) -> Response:
        """``GET /dingtalk-files/{token}``: the bytes behind a downloadUrl."""
        token = request.path_params["token"]
        call = await self._begin(
            request, "dingtalk", "dingtalk-file", token, parse_json=False, log_body={}
        )
        if isinstance(call, Response):
            return call
        media = self.state.dingtalk_download(token)
        if media is None:
            self._log(call, "http_404")
            return Response(b"NoSuchKey", status_code=404, media_type="text/plain")
        self._log(call, "ok")
        return file_response(media, media.content)

    # --- answers --------------------------------------------------------------------------

    def _dingtalk(
        self, call: Call, code: int, message: str = "ok", *, status: str | None = None
    ) -> Response:
        self._log(call, status or ("ok" if code == 0 else str(code)))
        return JSONResponse({"errcode": code, "errmsg": "ok" if code == 0 else message})

    def _api_error(self, call: Call, http_status: int, code: str, message: str) -> Response:
        self._log(call, f"http_{http_status}")
        return JSONResponse(
            {"code": code, "message": message, "requestid": secrets.token_hex(8)},
            status_code=http_status,
        )
