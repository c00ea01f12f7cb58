"""``EmulatorState``: everything the emulated WeCom and DingTalk know and have received.

It is shared by the HTTP routes (``wecom_routes``, ``dingtalk_routes``) and the tests that
drive them. Every method takes the lock, so a test thread may read or tweak the state while
the server thread answers requests. Time comes from the injected ``Clock``: tests move a
``FakeClock`` to cross a rate window or a token expiry instead of sleeping.

The memory is kept by concept: ``state_core`` (log, faults, outage, tokens, rate windows,
files users sent), ``wecom_state`` and ``dingtalk_state`` (each platform's registries and the
rules that need memory); the per-message checks that need none live in ``rules``.
"""

from __future__ import annotations

from bot.clock import Clock
from bot.config import Settings
from bot.devtools.emulator.dingtalk_state import DingTalkState
from bot.devtools.emulator.directory_state import Directory
from bot.devtools.emulator.longconn_hub import WeComLongHub
from bot.devtools.emulator.records import robot_access_token, webhook_key
from bot.devtools.emulator.stream_hub import DingTalkStreamHub
from bot.devtools.emulator.wecom_state import WeComState


class EmulatorState(WeComState, DingTalkState):
    """Everything the emulated WeCom and DingTalk servers know and have received."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.dingtalk_stream = DingTalkStreamHub(self.dingtalk_app_by_secret)
        """The DingTalk Stream gateway (its sockets live in the server's event loop)."""
        self.wecom_longconn = WeComLongHub(self)
        """The WeCom intelligent robot's long connection endpoint."""
        self.directory = Directory()
        """Both org directories, by mobile (``edubot bind-ids``)."""

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> EmulatorState:
        """A state that knows every configured group robot and both apps."""
        state = cls(clock)
        state.register(settings)
        return state

    def register(self, settings: Settings) -> None:
        """Learn every configured group robot and both apps (for a server already running,
        whose URL the settings needed first)."""
        state = self
        for group in settings.groups:
            if not group.webhook:
                continue
            if group.platform == "wecom":
                key = webhook_key(group.webhook)
                if key:
                    state.add_wecom_webhook(key)
            else:
                token = robot_access_token(group.webhook)
                if token:
                    state.add_dingtalk_robot(token, group.secret)
        wecom = settings.wecom
        if wecom.corp_id and wecom.secret:
            state.wecom_app(wecom.corp_id, wecom.secret, wecom.agent_id)
        if wecom.robot_bot_id and wecom.robot_secret:
            state.wecom_longconn.add_robot(wecom.robot_bot_id, wecom.robot_secret)
        if wecom.robot_encoding_aes_key:
            state.wecom_robot_key(wecom.robot_encoding_aes_key)
        dingtalk = settings.dingtalk
        if dingtalk.app_key and dingtalk.app_secret:
            state.dingtalk_app(dingtalk.app_key, dingtalk.app_secret, dingtalk.robot_code or None)

    def reset(self) -> None:
        """Forget the log, uploads and inbound media, rate windows, blocks, de-duplication,
        faults and outage.

        Registries, sessions and issued tokens stay: they are configuration, not traffic.
        """
        with self.lock:
            super().reset()
