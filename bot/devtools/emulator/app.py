"""The emulated WeCom and DingTalk HTTP APIs as one Starlette app.

Every route follows the same path: read the body, honour an outage or an injected fault,
then (holding the state lock) check the caller, the body and the rate limits in the order
the platform does, record the call and answer. Every answer is JSON; a body that is not
JSON gets the platform's error code, never a 500.

Routes (WeCom and DingTalk paths do not collide, so one server plays both)::

    GET  /cgi-bin/gettoken                     WeCom app token
    POST /cgi-bin/message/send                 WeCom app message
    POST /cgi-bin/media/upload                 WeCom app media (multipart)
    POST /cgi-bin/webhook/send                 WeCom group robot
    POST /cgi-bin/webhook/upload_media         WeCom group robot file (multipart)
    POST /robot/send                           DingTalk custom robot (oapi)
    POST /v1.0/oauth2/accessToken              DingTalk app token
    POST /v1.0/robot/groupMessages/send        DingTalk app robot, group
    POST /v1.0/robot/oToMessages/batchSend     DingTalk app robot, one-to-one
    POST /session/{session_id}                 DingTalk sessionWebhook
    GET  /cgi-bin/media/get                    WeCom app: a file a user sent (MediaId)
    GET  /aibot-files/{token}                  WeCom intelligent robot file url (encrypted)
    POST /v1.0/robot/messageFiles/download     DingTalk: downloadCode → downloadUrl
    GET  /dingtalk-files/{token}               DingTalk downloadUrl
    GET  /_emulator/messages                   the log (?all=1 for refused calls too)
    POST /_emulator/reset                      forget traffic (not registries)
    POST /_emulator/down?on=1|0                outage switch
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import anyio
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.devtools.emulator import rules
from bot.devtools.emulator.multipart import boundary_of, parse_multipart
from bot.devtools.emulator.records import InboundMedia, Platform
from bot.devtools.emulator.state import EmulatorState
from bot.errors import Forbidden
from bot.platforms.dingtalk_sign import verify_dingtalk_request

_WECOM_HELP = "https://open.work.weixin.qq.com/devtool/query?e="
_MEDIA_MAX = 20 * 1024 * 1024
_VOICE_MAX = 2 * 1024 * 1024
_MEDIA_MIN_EXCLUSIVE = 5  # WeCom: every file must be larger than 5 bytes
_WEBHOOK_MEDIA_TYPES = frozenset({"file", "voice"})
_APP_MEDIA_TYPES = frozenset({"file", "voice", "image", "video"})
_DINGTALK_TIMESTAMP_WINDOW_MS = 3600 * 1000
_CHUNK = 16 * 1024

Target = str | Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class _Call:
    """One request on its way through a route."""

    platform: Platform
    api: str
    target: str
    raw: bytes
    body: dict[str, Any] | None
    """The JSON object sent, or ``None`` when the body is not a JSON object."""
    log_body: dict[str, Any]


def create_emulator_app(state: EmulatorState) -> Starlette:
    """The ASGI app serving both platforms from ``state``."""
    emu = _Emulator(state)
    routes = [
        Route("/cgi-bin/gettoken", emu.wecom_gettoken, methods=["GET"]),
        Route("/cgi-bin/message/send", emu.wecom_app_send, methods=["POST"]),
        Route("/cgi-bin/media/upload", emu.wecom_app_upload, methods=["POST"]),
        Route("/cgi-bin/webhook/send", emu.wecom_webhook_send, methods=["POST"]),
        Route("/cgi-bin/webhook/upload_media", emu.wecom_webhook_upload, methods=["POST"]),
        Route("/robot/send", emu.dingtalk_robot_send, methods=["POST"]),
        Route("/v1.0/oauth2/accessToken", emu.dingtalk_access_token, methods=["POST"]),
        Route("/v1.0/robot/groupMessages/send", emu.dingtalk_group_send, methods=["POST"]),
        Route("/v1.0/robot/oToMessages/batchSend", emu.dingtalk_batch_send, methods=["POST"]),
        Route("/session/{session_id}", emu.dingtalk_session_send, methods=["POST"]),
        Route("/cgi-bin/media/get", emu.wecom_media_get, methods=["GET"]),
        Route("/aibot-files/{token}", emu.wecom_robot_file, methods=["GET"]),
        Route("/v1.0/robot/messageFiles/download", emu.dingtalk_file_download, methods=["POST"]),
        Route("/dingtalk-files/{token}", emu.dingtalk_file, methods=["GET"]),
        Route("/_emulator/messages", emu.dump, methods=["GET"]),
        Route("/_emulator/reset", emu.reset, methods=["POST"]),
        Route("/_emulator/down", emu.set_down, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )


class _Emulator:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # --- WeCom app ------------------------------------------------------------------------

    async def wecom_gettoken(self, request: Request) -> Response:
        corp_id = request.query_params.get("corpid", "")
        secret = request.query_params.get("corpsecret", "")
        call = await self._begin(
            request, "wecom", "gettoken", corp_id, log_body={"corpid": corp_id}
        )
        if isinstance(call, Response):
            return call
        with self.state.lock:
            code, token, expires_in = self.state.issue_wecom_token(corp_id, secret)
            if code == 40013:
                return self._wecom(call, code, "invalid corpid")
            if code:
                return self._wecom(call, code, "invalid credential: corpsecret is wrong")
            return self._wecom(call, 0, extra={"access_token": token, "expires_in": expires_in})

    async def wecom_app_send(self, request: Request) -> Response:
        token = request.query_params.get("access_token", "")
        call = await self._begin(
            request, "wecom", "message/send", lambda b: str(b.get("touser", ""))
        )
        if isinstance(call, Response):
            return call
        state = self.state
        with state.lock:
            status, app = state.check_wecom_token(token)
            if status == "expired":
                return self._wecom(call, 42001, "access_token expired")
            if app is None:
                return self._wecom(call, 40014, "invalid access_token")
            body = call.body
            if body is None:
                return self._wecom(call, 47001, "data format error: body is not a JSON object")
            if str(body.get("agentid", "")) != app.agent_id:
                return self._wecom(call, 40056, "invalid agentid")
            refusal = rules.check_wecom_app(body)
            if refusal is not None:
                return self._wecom(call, refusal.code, refusal.message)
            if body["msgtype"] == "file" and not state.media_usable(
                body["file"]["media_id"], app.corp_id
            ):
                return self._wecom(call, 40007, "invalid media_id")
            ok_extra = {
                "invaliduser": "",
                "invalidparty": "",
                "invalidtag": "",
                "unlicenseduser": "",
                "msgid": secrets.token_urlsafe(16),
            }
            interval = rules.wecom_duplicate_interval(body)
            fingerprint = rules.wecom_fingerprint(body)
            if interval and state.wecom_app_duplicate(fingerprint, timedelta(seconds=interval)):
                return self._wecom(call, 0, status="duplicate", extra=ok_extra)
            delivered, dropped = state.take_wecom_member_slots(rules.wecom_members(body["touser"]))
            if dropped:
                # Over 30 a minute to one member: WeCom answers ok and drops the message.
                state.record("wecom", call.api, "|".join(dropped), call.log_body, "dropped")
            if not delivered:
                return self._wecom(call, 0, extra=ok_extra, log=False)
            state.remember_wecom_app_message(fingerprint)
            call = replace(call, target="|".join(delivered))
            return self._wecom(call, 0, extra=ok_extra)

    async def wecom_app_upload(self, request: Request) -> Response:
        token = request.query_params.get("access_token", "")
        call = await self._begin(request, "wecom", "media/upload", "", parse_json=False)
        if isinstance(call, Response):
            return call
        with self.state.lock:
            status, app = self.state.check_wecom_token(token)
            if status == "expired":
                return self._wecom(call, 42001, "access_token expired")
            if app is None:
                return self._wecom(call, 40014, "invalid access_token")
            call = replace(call, target=app.corp_id)
            return self._upload(request, call, app.corp_id, _APP_MEDIA_TYPES)

    # --- WeCom group robot ----------------------------------------------------------------

    async def wecom_webhook_send(self, request: Request) -> Response:
        key = request.query_params.get("key", "")
        call = await self._begin(request, "wecom", "webhook/send", key)
        if isinstance(call, Response):
            return call
        state = self.state
        with state.lock:
            if not state.wecom_webhook_known(key):
                return self._wecom(call, 93000, "invalid webhook url")
            body = call.body
            if body is None:
                return self._wecom(call, 47001, "data format error: body is not a JSON object")
            refusal = rules.check_wecom_webhook(body)
            if refusal is not None:
                return self._wecom(call, refusal.code, refusal.message)
            msgtype = body["msgtype"]
            if msgtype in ("file", "voice") and not state.media_usable(
                body[msgtype]["media_id"], key
            ):
                return self._wecom(call, 40007, "invalid media_id")
            if not state.take_wecom_webhook_slot(key):
                return self._wecom(call, 45009, "api freq out of limit")
            return self._wecom(call, 0)

    async def wecom_webhook_upload(self, request: Request) -> Response:
        key = request.query_params.get("key", "")
        call = await self._begin(request, "wecom", "upload_media", key, parse_json=False)
        if isinstance(call, Response):
            return call
        with self.state.lock:
            if not self.state.wecom_webhook_known(key):
                return self._wecom(call, 93000, "invalid webhook url")
            return self._upload(request, call, key, _WEBHOOK_MEDIA_TYPES)

    def _upload(self, request: Request, call: _Call, owner: str, types: frozenset[str]) -> Response:
        media_type = request.query_params.get("type", "")
        if media_type not in types:
            return self._wecom(call, 40004, "invalid media type")
        boundary = boundary_of(request.headers.get("content-type", ""))
        if not boundary:
            return self._wecom(call, 47001, "data format error: not multipart/form-data")
        part = next((p for p in parse_multipart(call.raw, boundary) if p.name == "media"), None)
        if part is None or not part.content:
            return self._wecom(call, 44001, "empty media data: no form field named media")
        size = len(part.content)
        limit = _VOICE_MAX if media_type == "voice" else _MEDIA_MAX
        if size <= _MEDIA_MIN_EXCLUSIVE or size > limit:
            return self._wecom(call, 40006, f"invalid file size: {size} bytes")
        upload = self.state.store_upload("wecom", owner, media_type, part.filename, part.content)
        log_body = {
            "type": media_type,
            "filename": part.filename,
            "size": size,
            "media_id": upload.media_id,
        }
        return self._wecom(
            replace(call, log_body=log_body),
            0,
            extra={
                "type": media_type,
                "media_id": upload.media_id,
                "created_at": str(int(upload.at.timestamp())),
            },
        )

    # --- DingTalk custom robot and sessionWebhook -----------------------------------------

    async def dingtalk_robot_send(self, request: Request) -> Response:
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

    async def dingtalk_session_send(self, request: Request) -> Response:
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
    def _dingtalk_body(call: _Call) -> rules.Refusal | None:
        if len(call.raw) > rules.DINGTALK_BODY_MAX:
            return rules.Refusal(460101, "message too long, exceed 20000 bytes")
        if call.body is None:
            return rules.Refusal(40035, "缺少参数 json: body is not a JSON object")
        return rules.check_dingtalk_robot(call.body)

    # --- DingTalk app robot (OpenAPI v1.0) ------------------------------------------------

    async def dingtalk_access_token(self, request: Request) -> Response:
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

    async def dingtalk_group_send(self, request: Request) -> Response:
        return await self._dingtalk_openapi_send(request, batch=False)

    async def dingtalk_batch_send(self, request: Request) -> Response:
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

    # --- inbound media: the files users send ---------------------------------------------

    async def wecom_media_get(self, request: Request) -> Response:
        token = request.query_params.get("access_token", "")
        media_id = request.query_params.get("media_id", "")
        call = await self._begin(
            request, "wecom", "media/get", media_id, parse_json=False, log_body={}
        )
        if isinstance(call, Response):
            return call
        with self.state.lock:
            status, app = self.state.check_wecom_token(token)
            if status == "expired":
                return self._wecom(call, 42001, "access_token expired")
            if app is None:
                return self._wecom(call, 40014, "invalid access_token")
            media = self.state.wecom_media(media_id)
            if media is None:
                return self._wecom(call, 40007, "invalid media_id")
            self._log(call, "ok")
        return _file_response(media, media.content)

    async def wecom_robot_file(self, request: Request) -> Response:
        token = request.path_params["token"]
        call = await self._begin(
            request, "wecom", "robot-file", token, parse_json=False, log_body={}
        )
        if isinstance(call, Response):
            return call
        media = self.state.robot_file(token)
        key = self.state.robot_aes_key
        if media is None:
            # What an object store says for an unknown or expired signed url.
            self._log(call, "http_404")
            return Response(b"NoSuchKey", status_code=404, media_type="text/plain")
        if not key:
            self._log(call, "http_500")
            return JSONResponse(
                {"errcode": -1, "errmsg": "emulator: no robot EncodingAESKey registered"},
                status_code=500,
            )
        self._log(call, "ok")
        return _file_response(media, seal_robot_file(media.content, key))

    async def dingtalk_file_download(self, request: Request) -> Response:
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

    async def dingtalk_file(self, request: Request) -> Response:
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
        return _file_response(media, media.content)

    # --- control --------------------------------------------------------------------------

    async def dump(self, request: Request) -> Response:
        q = request.query_params
        platform: Platform | None = None
        if q.get("platform") == "wecom":
            platform = "wecom"
        elif q.get("platform") == "dingtalk":
            platform = "dingtalk"
        elif q.get("platform"):
            return JSONResponse({"error": "platform is wecom or dingtalk"}, status_code=400)
        pick = self.state.attempts if q.get("all") in ("1", "true") else self.state.messages
        records = pick(platform, q.get("api") or None, q.get("target") or None)
        return JSONResponse({"count": len(records), "messages": [r.as_json() for r in records]})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"ok": True})

    async def set_down(self, request: Request) -> Response:
        on = request.query_params.get("on", "1") not in ("0", "false", "")
        self.state.down(on)
        return JSONResponse({"down": on})

    # --- the common path ------------------------------------------------------------------

    async def _begin(
        self,
        request: Request,
        platform: Platform,
        api: str,
        target: Target,
        *,
        parse_json: bool = True,
        log_body: dict[str, Any] | None = None,
        log_body_of: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> _Call | Response:
        """Read the request; answer here if the platform is down or a fault applies."""
        raw = await request.body()
        body = _json_object(raw) if parse_json else None
        if log_body is None:
            if body is not None:
                log_body = log_body_of(body) if log_body_of else body
            else:
                log_body = {"_raw": raw[:2000].decode("utf-8", "replace")} if parse_json else {}
        if not isinstance(target, str):
            target = target(body) if body is not None else ""
        call = _Call(platform, api, target, raw, body, log_body)
        if self.state.is_down:
            self._log(call, "http_503")
            return JSONResponse(
                {"errcode": -1, "errmsg": "system busy (emulated outage)"}, status_code=503
            )
        fault = self.state.take_fault(api)
        if fault is None:
            return call
        if fault.delay_s > 0:
            await anyio.sleep(fault.delay_s)
        if fault.errcode is not None:
            self._log(call, str(fault.errcode))
            return JSONResponse(
                {"errcode": fault.errcode, "errmsg": f"emulated fault {fault.errcode}"}
            )
        if fault.http_status is not None:
            self._log(call, f"http_{fault.http_status}")
            return JSONResponse(
                {"errcode": -1, "errmsg": f"emulated HTTP {fault.http_status}"},
                status_code=fault.http_status,
            )
        return call  # a pure delay: now answer normally

    def _log(self, call: _Call, status: str) -> None:
        self.state.record(call.platform, call.api, call.target, call.log_body, status)

    def _wecom(
        self,
        call: _Call,
        code: int,
        message: str = "ok",
        *,
        status: str | None = None,
        extra: dict[str, Any] | None = None,
        log: bool = True,
    ) -> Response:
        if log:
            self._log(call, status or ("ok" if code == 0 else str(code)))
        errmsg = (
            "ok" if code == 0 else f"{message}, hint: [emulator], more info at {_WECOM_HELP}{code}"
        )
        return JSONResponse({"errcode": code, "errmsg": errmsg, **(extra or {})})

    def _dingtalk(
        self, call: _Call, code: int, message: str = "ok", *, status: str | None = None
    ) -> Response:
        self._log(call, status or ("ok" if code == 0 else str(code)))
        return JSONResponse({"errcode": code, "errmsg": "ok" if code == 0 else message})

    def _api_error(self, call: _Call, http_status: int, code: str, message: str) -> Response:
        self._log(call, f"http_{http_status}")
        return JSONResponse(
            {"code": code, "message": message, "requestid": secrets.token_hex(8)},
            status_code=http_status,
        )


def seal_robot_file(content: bytes, encoding_aes_key: str) -> bytes:
    """Encrypt a file as the intelligent robot's url serves it: AES-256-CBC with the
    EncodingAESKey, IV = key[:16], PKCS#7 padding to a multiple of 32 bytes."""
    key = base64.b64decode(encoding_aes_key + "=")
    padder = padding.PKCS7(256).padder()
    padded = padder.update(content) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _file_response(media: InboundMedia, data: bytes) -> Response:
    name = media.filename or "file"
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    if not media.chunked:
        return Response(data, media_type="application/octet-stream", headers=headers)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), _CHUNK):
            yield data[start : start + _CHUNK]

    # No Content-Length: the reader only learns the size by reading.
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON, bad UTF-8 and over-long integers.
        return None
    return data if isinstance(data, dict) else None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"errcode": -1, "errmsg": str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _crash(request: Request, exc: Exception) -> Response:
    return JSONResponse({"errcode": -1, "errmsg": "emulator error"}, status_code=500)
