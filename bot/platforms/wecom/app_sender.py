"""WeCom self-built app messages (应用消息) to one person, through wechatpy's ``WeChatClient``.

What wechatpy 2.0.0a26 does and does not do, and what this module adds:

- ``API_BASE_URL`` is a class attribute read as ``self.API_BASE_URL`` for every API call, so
  an instance attribute ``{api_base}/cgi-bin/`` redirects them. **But** ``fetch_access_token``
  hard-codes ``https://qyapi.weixin.qq.com/cgi-bin/gettoken`` and calls it without a timeout:
  ``_WeComClient`` overrides it to use ``api_base`` and the timeout.
- The token is cached in the client's session (``MemoryStorage`` unless one is passed) but its
  expiry is checked against ``time.time()``; here it follows the injected clock instead.
- With ``auto_retry`` wechatpy refetches the token on 40001/40014/42001 and retries *without
  bound* (a recursion that never ends if the fresh token is refused too). We turn that off and
  refetch-and-retry once ourselves, on 40014/42001 only.
- Transport errors surface as raw ``requests`` exceptions and HTTP errors as
  ``WeChatClientException(errcode=None)``; both are mapped to the delivery errors here.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.work import WeChatClient

from bot.clock import Clock
from bot.errors import PermanentDelivery, RetryableDelivery
from bot.platforms.wecom.render import wecom_app_content
from bot.senders.base import bounded_rate_key, check_errcode, check_not_empty, check_size
from bot.senders.limits import LIMITS
from handlers.messages import OutboundMessage
from handlers.text import utf8_len

TOKEN_ERRORS = frozenset({40014, 42001})
"""invalid / expired access_token: fetch a new one and try once more."""
TOKEN_MARGIN_S = 300
DUPLICATE_CHECK_INTERVAL_S = 14400
"""WeCom's longest de-duplication window (4 h): a resend with the same content is dropped."""


class _WeComClient(WeChatClient):  # type: ignore[misc]  # wechatpy ships no type hints
    """``WeChatClient`` pointed at ``api_base``, with token expiry on the injected clock."""

    def __init__(
        self,
        corp_id: str,
        secret: str,
        *,
        api_base: str,
        clock: Clock,
        timeout: float,
        session: SessionStorage | None = None,
        proxy: str = "",
    ) -> None:
        super().__init__(corp_id, secret, session=session, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = f"{api_base.rstrip('/')}/cgi-bin/"
        self._clock = clock
        if proxy:
            # requests lets HTTPS_PROXY override a session's proxies; the configured one wins.
            self._http.trust_env = False
            self._http.proxies = {"http": proxy, "https": proxy}

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        expires_at = self.expires_at
        if token and expires_at and expires_at - self._now() > TOKEN_MARGIN_S:
            return str(token)
        self.fetch_access_token()
        return str(self.session.get(self.access_token_key))

    def forget_access_token(self) -> None:
        self.session.delete(self.access_token_key)
        self.expires_at = 0

    def fetch_access_token(self) -> dict[str, Any]:
        response = self._http.get(
            f"{self.API_BASE_URL}gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
            timeout=self.timeout,
        )
        try:
            response.raise_for_status()
            result = response.json()
        except requests.HTTPError as exc:
            raise WeChatClientException(None, None, client=self, response=response) from exc
        except ValueError as exc:
            raise WeChatClientException(-1, "gettoken answer is not JSON", client=self) from exc
        code = int(result.get("errcode", 0))
        if code != 0 or not result.get("access_token"):
            raise WeChatClientException(code or -2, result.get("errmsg", ""), client=self)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = self._now() + expires_in
        return dict(result)


class WeComAppSender:
    """Sends app messages to single WeCom members (``target`` = userid)."""

    def __init__(
        self,
        *,
        corp_id: str,
        secret: str,
        agent_id: str,
        api_base: str,
        clock: Clock,
        timeout: float = 10.0,
        session: SessionStorage | None = None,
        proxy: str = "",
    ) -> None:
        self.client = _WeComClient(
            corp_id,
            secret,
            api_base=api_base,
            clock=clock,
            timeout=timeout,
            session=session,
            proxy=proxy,
        )
        self._agent_id = agent_id.strip()
        self._lock = threading.Lock()

    def rate_key(self, message: OutboundMessage) -> str:
        """One rate limit per recipient."""
        return bounded_rate_key("wecom-app", message.target)

    def send(self, message: OutboundMessage, *, dedupe_key: str) -> None:
        """Send once through ``message/send``, or raise a delivery error."""
        # WeCom de-duplicates on content (enable_duplicate_check), not on our dedupe_key.
        where = "wecom app"
        if not self._agent_id.isdigit():
            raise PermanentDelivery(f"{where}: wecom.agent_id '{self._agent_id}' is not a number")
        several = message.target_kind == "people"
        if not message.target or ("|" in message.target and not several):
            # "|" would turn one push into a multicast (touser is "a|b|c"): only "people" may.
            raise PermanentDelivery(f"{where}: '{message.target}' is not one userid")
        check_not_empty(where, message)
        limit = LIMITS["wecom_app_markdown" if message.markdown else "wecom_text"]
        check_size(where, utf8_len(message.text), limit)
        msg = {
            **wecom_app_content(message),
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_INTERVAL_S,
        }
        with self._lock:
            result = self._send_with_fresh_token(where, message.target, msg)
        invalid = set(str(result.get("invaliduser", "")).split("|"))
        # One call to several members reached those not listed as invalid; only when it
        # reached nobody is the push undeliverable (sending again would repeat it to them).
        if set(message.target.split("|")) <= invalid:
            raise PermanentDelivery(
                f"{where}: '{message.target}' is not a member the app can reach (invaliduser)"
            )

    def _send_with_fresh_token(self, where: str, userid: str, msg: dict[str, Any]) -> Any:
        for attempt in (1, 2):
            try:
                result = self.client.message.send(int(self._agent_id), userid, msg=msg)
            except WeChatClientException as exc:
                if exc.errcode in TOKEN_ERRORS and attempt == 1:
                    self.client.forget_access_token()
                    continue
                if exc.errcode in TOKEN_ERRORS:
                    raise RetryableDelivery(
                        f"{where}: the freshly fetched access_token was refused too",
                        code=int(exc.errcode),
                    ) from exc
                raise _delivery_error(where, exc) from exc
            except requests.Timeout as exc:
                raise RetryableDelivery(f"{where}: timed out ({type(exc).__name__})") from exc
            except requests.RequestException as exc:
                raise RetryableDelivery(f"{where}: {type(exc).__name__}: {exc}") from exc
            if not isinstance(result, dict):
                raise RetryableDelivery(f"{where}: the answer is not a JSON object")
            return result
        raise AssertionError("unreachable")  # pragma: no cover


def _delivery_error(where: str, exc: WeChatClientException) -> Exception:
    if exc.errcode is None:  # an HTTP error status
        status = getattr(exc.response, "status_code", 0) or 0
        detail = f"{where}: HTTP {status}"
        if status == 429 or status >= 500:
            return RetryableDelivery(detail)
        return PermanentDelivery(detail)
    try:
        check_errcode(where, int(exc.errcode), str(exc.errmsg or ""))
    except (RetryableDelivery, PermanentDelivery) as mapped:
        return mapped
    return PermanentDelivery(f"{where}: errcode {exc.errcode}")
