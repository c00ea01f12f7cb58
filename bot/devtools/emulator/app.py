"""The emulated WeCom and DingTalk HTTP APIs as one Starlette app.

Every route follows the same path: read the body, honour an outage or an injected fault,
then (holding the state lock) check the caller, the body and the rate limits in the order
the platform does, record the call and answer. Every answer is JSON; a body that is not
JSON gets the platform's error code, never a 500. That common path is ``calls``; the
routes themselves are ``wecom_routes`` and ``dingtalk_routes``, and this module only
lists them, with the emulator's own ``/_emulator`` control routes.

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
    POST /v1.0/gateway/connections/open        DingTalk Stream mode: a ticket (``stream_hub``)
    WS   /gateway/stream?ticket=               DingTalk Stream mode: the socket
    WS   /aibot-ws                             WeCom robot long connection (``longconn_hub``)
    POST /_emulator/dingtalk/stream            a robot message down the Stream connection
    POST /_emulator/wecom/aibot/{bot_id}       a robot message down the long connection
    GET  /dingtalk-files/{token}               DingTalk downloadUrl
    POST /cgi-bin/user/getuserid               WeCom member by mobile (bind-ids)
    POST /topapi/v2/user/getbymobile           DingTalk member by mobile (oapi, bind-ids)
    GET  /_emulator/messages                   the log (?all=1 for refused calls too)
    POST /_emulator/reset                      forget traffic (not registries)
    POST /_emulator/down?on=1|0                outage switch
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from bot.devtools.emulator.dingtalk_routes import DingTalkRoutes
from bot.devtools.emulator.directory import DirectoryRoutes
from bot.devtools.emulator.records import Platform
from bot.devtools.emulator.state import EmulatorState
from bot.devtools.emulator.wecom_routes import WeComRoutes


def create_emulator_app(state: EmulatorState) -> Starlette:
    """The ASGI app serving both platforms from ``state``."""
    wecom, dingtalk, control = WeComRoutes(state), DingTalkRoutes(state), _Control(state)
    stream = state.dingtalk_stream
    directory = DirectoryRoutes(state)
    routes: list[BaseRoute] = [
        Route("/cgi-bin/gettoken", wecom.gettoken, methods=["GET"]),
        Route("/cgi-bin/message/send", wecom.app_send, methods=["POST"]),
        Route("/cgi-bin/media/upload", wecom.app_upload, methods=["POST"]),
        Route("/cgi-bin/webhook/send", wecom.webhook_send, methods=["POST"]),
        Route("/cgi-bin/webhook/upload_media", wecom.webhook_upload, methods=["POST"]),
        Route("/robot/send", dingtalk.robot_send, methods=["POST"]),
        Route("/v1.0/oauth2/accessToken", dingtalk.access_token, methods=["POST"]),
        Route("/v1.0/robot/groupMessages/send", dingtalk.group_send, methods=["POST"]),
        Route("/v1.0/robot/oToMessages/batchSend", dingtalk.batch_send, methods=["POST"]),
        Route("/session/{session_id}", dingtalk.session_send, methods=["POST"]),
        Route("/cgi-bin/media/get", wecom.media_get, methods=["GET"]),
        Route("/cgi-bin/user/getuserid", directory.wecom_getuserid, methods=["POST"]),
        Route("/topapi/v2/user/getbymobile", directory.dingtalk_getbymobile, methods=["POST"]),
        Route("/aibot-files/{token}", wecom.robot_file, methods=["GET"]),
        Route("/v1.0/robot/messageFiles/download", dingtalk.file_download, methods=["POST"]),
        Route("/dingtalk-files/{token}", dingtalk.file, methods=["GET"]),
        Route("/v1.0/gateway/connections/open", stream.open_connection, methods=["POST"]),
        WebSocketRoute("/gateway/stream", stream.stream),
        WebSocketRoute("/aibot-ws", state.wecom_longconn.serve),
        Route("/_emulator/dingtalk/stream", stream.deliver_route, methods=["POST"]),
        Route(
            "/_emulator/wecom/aibot/{bot_id}", state.wecom_longconn.deliver_route, methods=["POST"]
        ),
        Route("/_emulator/messages", control.dump, methods=["GET"]),
        Route("/_emulator/reset", control.reset, methods=["POST"]),
        Route("/_emulator/down", control.set_down, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )


class _Control:
    """The ``/_emulator`` routes: what arrived, forget it, the outage switch."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def dump(self, request: Request) -> Response:
        """``GET /_emulator/messages``: the log, filtered by ``platform``, ``api``, ``target``."""
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
        """``POST /_emulator/reset``: forget the traffic, keep the registries."""
        self.state.reset()
        return JSONResponse({"ok": True})

    async def set_down(self, request: Request) -> Response:
        """``POST /_emulator/down?on=1|0``: switch the emulated outage on or off."""
        on = request.query_params.get("on", "1") not in ("0", "false", "")
        self.state.down(on)
        return JSONResponse({"down": on})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"errcode": -1, "errmsg": str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _crash(request: Request, exc: Exception) -> Response:
    return JSONResponse({"errcode": -1, "errmsg": "emulator error"}, status_code=500)
