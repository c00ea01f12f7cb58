"""Downloading the files people send to the bot, from whichever platform holds them.

::

    channel      ref            fetched by
    wecom_app    MediaId        bot.platforms.wecom.media.WeComAppMedia
    wecom_robot  file url       bot.platforms.wecom.media.WeComRobotMedia
    dingtalk     downloadCode   bot.platforms.dingtalk.media.DingTalkMedia

``PlatformMedia.intake(channel)`` is the ``FileIntake`` the 提交 handlers use for messages
from that channel. The size limit is enforced while streaming (``bot.platforms.download``).
Every failure is a ``BotError`` whose text tells the user what to do (resend later, resend
the file, compress it); nothing is recorded then. Here it is also logged, once, with the
reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import httpx

from bot.clock import Clock
from bot.config import Settings
from bot.platforms.dingtalk.media import DingTalkMedia
from bot.platforms.download import MediaError, later
from bot.platforms.wecom.media import WeComAppMedia, WeComRobotMedia
from handlers.errors import BotError
from handlers.files import DEFAULT_MAX_BYTES, FileIntake
from handlers.messages import Attachment, Channel

log = logging.getLogger("edubot.media")

CHANNELS: tuple[Channel, ...] = ("wecom_app", "wecom_robot", "dingtalk")
MEDIA_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class PlatformMedia:
    """Fetches attachments from WeCom and DingTalk.

    ``http`` is shared with the caller; without one, a client is made on first use and
    closed by ``close()``. ``max_bytes`` is the per-file limit (``FileIntake.max_bytes``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.Client | None = None,
        clock: Clock,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._given = http
        self._own: httpx.Client | None = None
        self._own_lock = threading.Lock()
        self.max_bytes = max_bytes
        client = self._client
        self._fetchers: dict[Channel, Callable[[str], bytes]] = {
            "wecom_app": WeComAppMedia(
                settings.wecom, http=client, clock=clock, max_bytes=max_bytes
            ).fetch,
            "wecom_robot": WeComRobotMedia(settings.wecom, http=client, max_bytes=max_bytes).fetch,
            "dingtalk": DingTalkMedia(
                settings.dingtalk, http=client, clock=clock, max_bytes=max_bytes
            ).fetch,
        }

    def intake(self, channel: Channel) -> FileIntake:
        """The ``FileIntake`` for messages that arrived on ``channel``."""

        def fetch(attachment: Attachment) -> bytes:
            return self.fetch(attachment, channel)

        return FileIntake(fetch, self.max_bytes)

    def intakes(self) -> dict[Channel, FileIntake]:
        """One intake per channel, for the dispatcher."""
        return {channel: self.intake(channel) for channel in CHANNELS}

    def fetch(self, attachment: Attachment, channel: Channel) -> bytes:
        """The attachment's bytes, or a ``BotError`` for the user."""
        try:
            return self._fetchers[channel](attachment.ref)
        except MediaError as exc:
            log.warning("media %s on %s refused: %s", attachment.ref[:80], channel, exc.detail)
            raise
        except httpx.TimeoutException as exc:
            log.warning("media %s on %s timed out: %r", attachment.ref[:80], channel, exc)
            raise BotError(later(channel, "下载文件超时")) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.warning("media %s on %s failed: %r", attachment.ref[:80], channel, exc)
            raise BotError(later(channel)) from exc

    def close(self) -> None:
        """Close the client made here (a given client belongs to the caller)."""
        with self._own_lock:
            if self._own is not None:
                self._own.close()
                self._own = None

    def _client(self) -> httpx.Client:
        if self._given is not None:
            return self._given
        with self._own_lock:
            if self._own is None:
                self._own = httpx.Client(timeout=MEDIA_TIMEOUT)
            return self._own
