"""The path every emulated route shares: read the call, honour an outage or a fault, log it.

``RoutesBase`` is what ``WeComRoutes`` and ``DingTalkRoutes`` build on: ``_begin`` reads the
request into a ``Call`` (or answers at once when the platform is down or an injected fault
applies) and ``_log`` records the outcome in ``EmulatorState``. ``file_response`` serves the
bytes of a file a user sent, as either platform's file endpoints do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bot.devtools.emulator.records import InboundMedia, Platform
from bot.devtools.emulator.state import EmulatorState

_CHUNK = 16 * 1024

Target = str | Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Call:
    """One request on its way through a route."""

    platform: Platform
    api: str
    target: str
    raw: bytes
    body: dict[str, Any] | None
    """The JSON object sent, or ``None`` when the body is not a JSON object."""
    log_body: dict[str, Any]


class RoutesBase:
    """What every platform's routes share: the state, reading a call and logging it."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

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
    ) -> Call | Response:
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
        call = Call(platform, api, target, raw, body, log_body)
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

    def _log(self, call: Call, status: str) -> None:
        self.state.record(call.platform, call.api, call.target, call.log_body, status)


def file_response(media: InboundMedia, data: bytes) -> Response:
    """The file as a download; with ``media.chunked`` streamed without a Content-Length."""
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
