"""Serve the emulator on loopback from a background thread.

::

    with EmulatorServer(state) as emu:
        settings = ...  # wecom.api_base = dingtalk.api_base = dingtalk.oapi_base = emu.base_url
        httpx.post(f"{emu.base_url}/cgi-bin/webhook/send?key=K", json={...})
"""

from __future__ import annotations

from bot.devtools.emulator.app import create_emulator_app
from bot.devtools.emulator.state import EmulatorState
from bot.devtools.serving import LoopbackServer


class EmulatorServer(LoopbackServer):
    """uvicorn serving ``create_emulator_app(state)`` on ``host:port`` in a thread."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 10.0,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            create_emulator_app(state),
            name="edubot-emulator",
            host=host,
            port=port,
            startup_timeout_s=startup_timeout_s,
            shutdown_timeout_s=shutdown_timeout_s,
        )
        self.state = state
