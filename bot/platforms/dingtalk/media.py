"""Downloading the files people send to the DingTalk app robot.

::

    ref            how
    downloadCode   POST {dingtalk.api_base}/v1.0/robot/messageFiles/download
                   {downloadCode, robotCode} → {"downloadUrl"}, then GET it

The app's access token is cached until five minutes before it expires and fetched again
once when DingTalk answers 401.
"""

from __future__ import annotations

from bot.clock import Clock
from bot.config import DingTalkSettings
from bot.platforms.download import (
    RESEND_FILE,
    HttpClient,
    MediaError,
    check_status,
    later,
    read_limited,
    small_json,
    token_seconds,
)
from bot.platforms.tokens import TokenCache


class DingTalkMedia:
    """Fetches a message's ``downloadCode`` through ``messageFiles/download``."""

    def __init__(
        self, settings: DingTalkSettings, *, http: HttpClient, clock: Clock, max_bytes: int
    ) -> None:
        self._settings = settings
        self._http = http
        self._max_bytes = max_bytes
        self._tokens = TokenCache(self._token, clock)

    def _token(self) -> tuple[str, int]:
        ding = self._settings
        if not (ding.app_key and ding.app_secret):
            raise MediaError(later("dingtalk"), "dingtalk.app_key / app_secret not configured")
        response = self._http().post(
            f"{ding.api_base.rstrip('/')}/v1.0/oauth2/accessToken",
            json={"appKey": ding.app_key, "appSecret": ding.app_secret},
        )
        data = small_json(response)
        token = data.get("accessToken")
        if not response.is_success or not isinstance(token, str) or not token:
            raise MediaError(
                later("dingtalk"),
                f"accessToken: HTTP {response.status_code} {data.get('code', '')}",
            )
        return token, token_seconds(data.get("expireIn", 7200))

    def fetch(self, download_code: str) -> bytes:
        """The file's bytes, or a ``BotError`` for the user."""
        ding = self._settings
        url = f"{ding.api_base.rstrip('/')}/v1.0/robot/messageFiles/download"
        body = {"downloadCode": download_code, "robotCode": ding.robot_code or ding.app_key}
        for attempt in (1, 2):
            token = self._tokens.get()
            http = self._http()
            response = http.post(url, json=body, headers={"x-acs-dingtalk-access-token": token})
            if response.status_code == 401 and attempt == 1:
                self._tokens.invalidate(token)
                continue
            data = small_json(response)
            where = f"messageFiles/download: HTTP {response.status_code} {data.get('code', '')}"
            if response.status_code == 400:
                raise MediaError(RESEND_FILE, where)
            download_url = data.get("downloadUrl")
            if not response.is_success or not isinstance(download_url, str) or not download_url:
                raise MediaError(later("dingtalk"), where)
            with http.stream("GET", download_url, follow_redirects=True) as file:
                check_status("dingtalk", "downloadUrl", file, gone=(403, 404, 410))
                return read_limited(file, self._max_bytes, self._max_bytes)
        raise AssertionError("unreachable")  # pragma: no cover
