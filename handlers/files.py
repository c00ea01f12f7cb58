"""Storing submitted files under the data folder, with a size limit.

Files land at ``<data_dir>/submissions/<deadline>/<owner>/<version>-<safe name>``; every
version is kept. Getting the bytes from WeCom / DingTalk is someone else's job: the
composition root injects a ``Fetch`` (media download by MediaId / downloadCode / URL); tests
inject a fake. A fetcher that can see the size before downloading should raise
``BotError(too_large_message(size, limit))`` early instead of reading the whole file.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from handlers.errors import BotError
from handlers.messages import Attachment

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
NAME_MAX_BYTES = 255
"""ext4, XFS, Btrfs and ZFS all cap one path component at 255 bytes (not characters)."""
MAX_SHOWN_CHARS = 255
"""The ``submissions.file_name`` column's size: the sent name is kept up to that."""
_MAX_EXT_BYTES = 16

Fetch = Callable[[Attachment], bytes]
"""Download an attachment's content from its platform."""

# Path separators, characters Windows refuses, and control characters.
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"%PDF", ".pdf"))
_KIND_NAMES = {"file": "文件", "image": "图片", "voice": "语音", "video": "视频"}


@dataclass(frozen=True, slots=True)
class FileIntake:
    """How submitted files are received: the platform fetcher and the size limit."""

    fetch: Fetch
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A submitted file once written: where it lies, its safe name and its size in bytes."""

    relative_path: str
    """Relative to the data folder, with ``/`` separators (portable if the folder moves)."""
    name: str
    """The name as sent (what receipts show), not the possibly shortened name on disk."""
    size: int


def fetch_unavailable(attachment: Attachment) -> bytes:
    """The fetcher of a channel without media download: refuse the file, ask for a link."""
    raise BotError("暂时无法接收文件，请把文件上传到网盘后发送链接：提交 材料名 https://…")


def human_size(size: int) -> str:
    """``512 B``, ``3.4 KB``, ``20 MB``."""
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KB"
    if value >= 1024:
        value, unit = value / 1024, "MB"
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def too_large_message(size: int | None, limit: int) -> str:
    """The refusal for a file above ``limit`` bytes, naming its size when known (``None``:
    the platform did not say) and the way round it, a link."""
    got = f"（{human_size(size)}）" if size is not None else ""
    return (
        f"文件过大{got}，单个文件上限为 {human_size(limit)}，未记录。"
        "请压缩后重发，或上传网盘后发送：提交 材料名 https://…"
    )


def check_size(size: int, limit: int) -> None:
    """Refuse (``BotError``) a file of ``size`` bytes when that is above ``limit``."""
    if size > limit:
        raise BotError(too_large_message(size, limit))


def safe_name(name: str, fallback: str = "文件", *, max_bytes: int = NAME_MAX_BYTES) -> str:
    """A file or folder name that cannot escape its folder and fits in ``max_bytes`` of UTF-8.

    Chinese characters are kept; a name that is too long loses the end of its stem, never
    its extension, and is never cut inside a character.
    """
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip().lstrip(".")
    if not cleaned.strip("_ "):
        cleaned = fallback
    if len(cleaned.encode("utf-8")) <= max_bytes:
        return cleaned
    stem, ext = os.path.splitext(cleaned)
    if len(ext.encode("utf-8")) > _MAX_EXT_BYTES:  # not an extension, just a dot in a name
        stem, ext = cleaned, ""
    budget = max_bytes - len(ext.encode("utf-8"))
    return stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip() + ext


def _name_max(folder: Path) -> int:
    """The longest file name ``folder``'s filesystem takes, in bytes (255 if it won't say)."""
    try:
        return min(NAME_MAX_BYTES, os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX_BYTES


def display_name(attachment: Attachment, content: bytes, message_id: str) -> str:
    """The name to store and show: the sent name, else e.g. ``图片-<id>.jpg`` from the bytes."""
    if attachment.filename:
        return attachment.filename
    ext = next((e for magic, e in _MAGIC if content.startswith(magic)), "")
    kind = _KIND_NAMES.get(attachment.kind, "文件")
    return f"{kind}-{message_id[-8:] or 'x'}{ext}"


def store_submission_file(
    data_dir: Path,
    *,
    deadline_key: str,
    owner: str,
    version: int,
    name: str,
    content: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> StoredFile:
    """Write ``content`` atomically; refuse (BotError) above ``max_bytes``."""
    check_size(len(content), max_bytes)
    folder = Path("submissions", safe_name(deadline_key), safe_name(owner))
    (data_dir / folder).mkdir(parents=True, exist_ok=True)
    prefix = f"{version}-"
    on_disk = safe_name(name, max_bytes=_name_max(data_dir / folder) - len(prefix))
    relative = folder / f"{prefix}{on_disk}"
    target = data_dir / relative
    # Write beside the target and rename: a crash never leaves a half-written version.
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    shown = unicodedata.normalize("NFC", name)[:MAX_SHOWN_CHARS]
    return StoredFile(relative.as_posix(), shown, len(content))
