"""The emulated org directories' lookup by mobile (``edubot bind-ids``).

WeCom ``POST /cgi-bin/user/getuserid?access_token=…`` with ``{"mobile"}`` answers
``{"errcode": 0, "errmsg": "ok", "userid"}``; 46004 when no member has that mobile, 48002
when the app may not read the directory (apps need 通讯录 access since 2022), 40014 / 42001
for an unknown / expired token, 40058 for a missing mobile. DingTalk ``POST
/topapi/v2/user/getbymobile?access_token=…`` (oapi) answers ``{"errcode": 0, "result":
{"userid"}}``; 60121 when nobody has the mobile, 60011 without the
``qyapi_get_member_by_mobile`` permission, 40014 for a bad token, 40035 without a mobile.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.devtools.emulator.calls import Call, RoutesBase


class DirectoryRoutes(RoutesBase):
    """The two lookups, checked in the platforms' order: token, permission, body, member."""

    async def wecom_getuserid(self, request: Request) -> Response:
        """``POST /cgi-bin/user/getuserid``."""
        call = await self._begin(request, "wecom", "user/getuserid", _mobile)
        if isinstance(call, Response):
            return call
        status, app = self.state.check_wecom_token(request.query_params.get("access_token", ""))
        if status == "expired":
            return self._answer(call, 42001, "access_token expired")
        if app is None:
            return self._answer(call, 40014, "invalid access_token")
        if not self.state.directory.permitted["wecom"]:
            return self._answer(call, 48002, "api forbidden")
        if not _mobile(call.body or {}):
            return self._answer(call, 40058, "invalid mobile")
        user = self.state.directory.find("wecom", _mobile(call.body or {}))
        if user is None:
            return self._answer(call, 46004, "mobile not exists")
        return self._answer(call, 0, extra={"userid": user})

    async def dingtalk_getbymobile(self, request: Request) -> Response:
        """``POST /topapi/v2/user/getbymobile``."""
        call = await self._begin(request, "dingtalk", "user/getbymobile", _mobile)
        if isinstance(call, Response):
            return call
        if self.state.check_dingtalk_token(request.query_params.get("access_token", "")) is None:
            return self._answer(call, 40014, "不合法的access_token")
        if not self.state.directory.permitted["dingtalk"]:
            return self._answer(call, 60011, "应用尚未开通所需的权限：[qyapi_get_member_by_mobile]")
        if not _mobile(call.body or {}):
            return self._answer(call, 40035, "缺少参数 mobile")
        user = self.state.directory.find("dingtalk", _mobile(call.body or {}))
        if user is None:
            return self._answer(call, 60121, "找不到该用户")
        return self._answer(call, 0, extra={"result": {"userid": user}, "request_id": "emu"})

    def _answer(
        self, call: Call, code: int, message: str = "ok", *, extra: dict[str, object] | None = None
    ) -> Response:
        self._log(call, "ok" if code == 0 else str(code))
        return JSONResponse({"errcode": code, "errmsg": message, **(extra or {})})


def _mobile(body: dict[str, object]) -> str:
    return str(body.get("mobile", "") or "")
