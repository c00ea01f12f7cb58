"""The emulated WeCom APIs: app token, app messages and media, group robot, user files.

``WeComRoutes`` answers each route the way WeCom does: an HTTP 200 whose ``errcode`` says
what went wrong, checks in WeCom's order (token, body, media ids, rate limits) under the state
lock. ``seal_robot_file`` encrypts a file as the intelligent robot's file url serves it.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.devtools.emulator import rules
from bot.devtools.emulator.calls import Call, RoutesBase, file_response
from bot.devtools.emulator.multipart import boundary_of, parse_multipart

_WECOM_HELP = "https://open.work.weixin.qq.com/devtool/query?e="
_MEDIA_MAX = 20 * 1024 * 1024
_VOICE_MAX = 2 * 1024 * 1024
_MEDIA_MIN_EXCLUSIVE = 5  # WeCom: every file must be larger than 5 bytes
_WEBHOOK_MEDIA_TYPES = frozenset({"file", "voice"})
_APP_MEDIA_TYPES = frozenset({"file", "voice", "image", "video"})


class WeComRoutes(RoutesBase):
    """The WeCom endpoints, one method per route."""

    # --- app ------------------------------------------------------------------------------

    async def gettoken(self, request: Request) -> Response:
        """``GET /cgi-bin/gettoken``: an app's access token (the same one while valid)."""
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

    async def app_send(self, request: Request) -> Response:
        """``POST /cgi-bin/message/send``: an app message to members."""
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

    async def app_upload(self, request: Request) -> Response:
        """``POST /cgi-bin/media/upload``: a file an app will send."""
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

    # --- group robot ----------------------------------------------------------------------

    async def webhook_send(self, request: Request) -> Response:
        """``POST /cgi-bin/webhook/send``: a group robot message."""
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

    async def webhook_upload(self, request: Request) -> Response:
        """``POST /cgi-bin/webhook/upload_media``: a file a group robot will send."""
        key = request.query_params.get("key", "")
        call = await self._begin(request, "wecom", "upload_media", key, parse_json=False)
        if isinstance(call, Response):
            return call
        with self.state.lock:
            if not self.state.wecom_webhook_known(key):
                return self._wecom(call, 93000, "invalid webhook url")
            return self._upload(request, call, key, _WEBHOOK_MEDIA_TYPES)

    def _upload(self, request: Request, call: Call, owner: str, types: frozenset[str]) -> Response:
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

    # --- files users send to the bot ------------------------------------------------------

    async def media_get(self, request: Request) -> Response:
        """``GET /cgi-bin/media/get``: the bytes of a file a user sent to the app."""
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
        return file_response(media, media.content)

    async def robot_file(self, request: Request) -> Response:
        """``GET /aibot-files/{token}``: an intelligent robot's file url, encrypted."""
        token = request.path_params["token"]
        call = await self._begin(
            request, "wecom", "robot-file", token, parse_json=False, log_body={}
        )
        if isinstance(call, Response):
            return call
        media = self.state.robot_file(token)
        key = self.state.robot_file_key(token)
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
        return file_response(media, seal_robot_file(media.content, key))

    # --- answers --------------------------------------------------------------------------

    def _wecom(
        self,
        call: Call,
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


def seal_robot_file(content: bytes, encoding_aes_key: str) -> bytes:
    """Encrypt a file as the intelligent robot's url serves it: AES-256-CBC with the
    EncodingAESKey (or, over the long connection, the link's ``aeskey``), IV = key[:16],
    PKCS#7 padding to a multiple of 32 bytes."""
    text = encoding_aes_key.rstrip("=")
    key = base64.b64decode(text + "=" * (-len(text) % 4))
    padder = padding.PKCS7(256).padder()
    padded = padder.update(content) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padded) + encryptor.finalize()
