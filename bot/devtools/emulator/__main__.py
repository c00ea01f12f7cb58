"""``python -m bot.devtools.emulator [--config edubot.toml] [--port 9100]``: serve the emulator.

Uses the real clock. With ``--config`` every configured group robot and app is registered;
point ``wecom.api_base``, ``dingtalk.api_base`` and ``dingtalk.oapi_base`` at the printed
URL (and ``wecom.robot_ws_url`` at ``ws://HOST:PORT/aibot-ws``: DingTalk Stream mode and the
WeCom robot's long connection are served too). ``GET /_emulator/messages`` shows what
arrived.
"""

from __future__ import annotations

import argparse

import uvicorn

from bot.clock import SystemClock
from bot.config import load_settings
from bot.devtools.emulator.app import create_emulator_app
from bot.devtools.emulator.state import EmulatorState


def main(argv: list[str] | None = None) -> None:
    """Serve the emulator until interrupted (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bot.devtools.emulator", description=__doc__)
    parser.add_argument("--config", help="edubot TOML whose groups and apps to register")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    clock = SystemClock()
    if args.config:
        state = EmulatorState.from_settings(load_settings(args.config), clock)
    else:
        state = EmulatorState(clock)
    print(f"edubot emulator on http://{args.host}:{args.port}")
    uvicorn.run(
        create_emulator_app(state),
        host=args.host,
        port=args.port,
        ws="websockets-sansio",  # the long connections
        lifespan="off",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
