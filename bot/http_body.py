"""Reading a request's body up to a limit: a body that declares or streams more is refused
before the rest is read, so no client can make the service hold more than ``limit`` bytes.
Used by the platforms' callbacks (``bot.app``) and the desk's uploads (``bot.desk``)."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from bot.errors import MalformedRequest, PayloadTooLarge
from bot.platforms.fields import declares_over


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body; ``PayloadTooLarge`` over ``limit`` bytes, ``MalformedRequest`` when
    the client goes away before sending it all."""
    if declares_over(request.headers.get("content-length", ""), limit):
        raise PayloadTooLarge(f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:  # gone, or dropped for stalling (bot.http_timeouts)
        raise MalformedRequest("the client went away before its body arrived") from exc
    return b"".join(chunks)
