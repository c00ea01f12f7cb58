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

A platform with a configured ``proxy`` (``[wecom] proxy`` / ``[dingtalk] proxy``) fetches
every file through it, the token and the file host alike: a file url is on another host
than ``api_base`` (WeCom's CDN, DingTalk's object storage), and an office network that
reaches the platform only through its proxy reaches those hosts the same way. Without
one, the usual ``HTTPS_PROXY`` / ``NO_PROXY`` variables apply.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import httpx

from bot.clock import Clock
from bot.config import Settings
from bot.platforms.dingtalk.media import DingTalkMedia
from bot.platforms.download import HttpClient, MediaError, later
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
    closed by ``close()``. A platform with a ``proxy`` gets a client of its own through it
    (also closed by ``close()``). ``max_bytes`` is the per-file limit
    (``FileIntake.max_bytes``).
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
        self._own: dict[str, httpx.Client] = {}
        self._own_lock = threading.Lock()
        self.max_bytes = max_bytes
        wecom, dingtalk = self._client(settings.wecom.proxy), self._client(settings.dingtalk.proxy)
        self._fetchers: dict[Channel, Callable[[str], bytes]] = {
            "wecom_app": WeComAppMedia(
                settings.wecom, http=wecom, clock=clock, max_bytes=max_bytes
            ).fetch,
            "wecom_robot": WeComRobotMedia(settings.wecom, http=wecom, max_bytes=max_bytes).fetch,
            "dingtalk": DingTalkMedia(
                settings.dingtalk, http=dingtalk, clock=clock, max_bytes=max_bytes
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
        """Close the clients made here (a given client belongs to the caller)."""
        with self._own_lock:
            own, self._own = list(self._own.values()), {}
        for client in own:
            client.close()

    def _client(self, proxy: str) -> HttpClient:
        """Gives the client for a platform with ``proxy`` ("" = none configured)."""

        def get() -> httpx.Client:
            if not proxy and self._given is not None:
                return self._given
            with self._own_lock:
                client = self._own.get(proxy)
                if client is None:
                    client = httpx.Client(timeout=MEDIA_TIMEOUT, proxy=proxy or None)
                    self._own[proxy] = client
                return client

        return get
