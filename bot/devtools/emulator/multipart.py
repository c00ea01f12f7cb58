"""Just enough ``multipart/form-data`` parsing for WeCom's media upload.

Starlette's own form parser needs the optional ``python-multipart`` package; the emulator
only ever reads one file field, so it splits the body itself and keeps the bytes exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body: its field name, file name and bytes."""

    name: str
    filename: str
    content: bytes


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a ``multipart/form-data`` content type, or ``""``."""
    header = Message()
    header["Content-Type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        return ""
    boundary = header.get_param("boundary")
    return boundary if isinstance(boundary, str) else ""


def parse_multipart(body: bytes, boundary: str) -> list[Part]:
    """The parts of ``body``; malformed parts are skipped, never raised."""
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[Part] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip()] = value.strip()
        parts.append(
            Part(
                name=_disposition_param(headers, "name"),
                filename=_disposition_param(headers, "filename"),
                # The CRLF before the next delimiter belongs to the delimiter.
                content=content.removesuffix(b"\r\n"),
            )
        )
    return parts


def _disposition_param(headers: Message, name: str) -> str:
    value = headers.get_param(name, header="content-disposition")
    if value is None:
        return ""
    # RFC 2231 (filename*=UTF-8''...) comes back as a tuple.
    return collapse_rfc2231_value(value)
