"""``edubot reload`` and ``edubot bind-ids``: the campaign set-up subcommands (issue 19)
that need the database or the platforms (``bot.cli`` parses their arguments)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import load_settings


def reload(args: argparse.Namespace) -> int:
    """``edubot reload``: check the file, then have every running serve instance apply it."""
    from storage.bindings import request_reload  # noqa: PLC0415
    from storage.db import make_engine, make_session_factory, transaction  # noqa: PLC0415

    settings = load_settings(args.config)  # an invalid file: exit 2 with the problem
    engine = make_engine(settings.database.url, **settings.database.engine_options())
    try:
        with transaction(make_session_factory(engine)) as session:
            request_reload(session)
    finally:
        engine.dispose()
    seconds = settings.server.config_poll_seconds
    print(f"配置文件有效。所有运行中的 edubot serve 将在 {seconds:g} 秒内载入，无需重启。")
    return 0


def bind_ids(args: argparse.Namespace) -> int:
    """``edubot bind-ids``: missing ids from mobiles via the platforms' directories."""
    from bot.bind_ids import lookup_ids, report, write_ids  # noqa: PLC0415
    from bot.runtime import outbound_client  # noqa: PLC0415

    path = Path(args.config)
    settings = load_settings(path)
    with outbound_client(settings) as http:
        results = lookup_ids(settings, http)
    found = [r for r in results if r.user_id]
    written = 0 if args.dry_run else write_ids(path, found)
    print(report(results, written))
    return 0 if len(found) == len(results) else 1
