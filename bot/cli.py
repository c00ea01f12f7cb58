"""``edubot`` — the operator's command line (also ``python -m bot``).

edubot serve --config edubot.toml [--workers N]  HTTP service + scheduler + outbox sender
edubot demo [--out DIR] [--keep] [--scene forum|reporting]  the story on a sample campaign
edubot submissions --deadline KEY [--period 第2周] [--out DIR]  提交情况 xlsx + files zip
edubot chat --config edubot.toml --as 申毅 [--over stream|websocket|http|direct]  talk to the bot
edubot check-config edubot.toml          validate and print the plan
edubot calendar 2027 [--config FILE]     the year's days off and make-up days, and their source
edubot export --config edubot.toml --venue KEY --format csv|xlsx [--out FILE]
edubot db upgrade --config edubot.toml   apply database migrations
edubot doctor [--config F] [--send-test]  pre-flight check: config, database, credentials, clock …
edubot template campaign.xlsx            an empty campaign workbook for a clerk to fill
edubot import campaign.xlsx [--config F] check the workbook and write its campaign into F
edubot export-config campaign.xlsx [--config F]  F's campaign as that workbook
edubot reload [--config F]               every running serve applies F now, no restart
edubot bind-ids [--config F] [--dry-run] missing WeCom/DingTalk ids from the people's mobiles
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.errors import ConfigError
from handlers.errors import EdubotError
from storage.errors import StorageError

log = logging.getLogger("edubot")


def _config_arg(parser: argparse.ArgumentParser, *, positional: bool = False) -> None:
    if positional:
        parser.add_argument("config", nargs="?", default="edubot.toml", help="the TOML file")
    else:
        parser.add_argument("--config", "-c", default="edubot.toml", help="the TOML file")


def build_parser() -> argparse.ArgumentParser:
    """The ``edubot`` argument parser, one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog="edubot", description="edubot operator commands")
    parser.add_argument(
        "--log-level",
        default="",
        help="DEBUG, INFO, WARNING (default: INFO; demo and chat: WARNING)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    _serve_parser(sub)

    check = sub.add_parser("check-config", help="validate the config and print the plan")
    _config_arg(check, positional=True)

    calendar = sub.add_parser(
        "calendar", help="print a year's days off and make-up working days, and their source"
    )
    calendar.add_argument("year", type=int, help="e.g. 2027")
    calendar.add_argument(
        "--config", "-c", help="the TOML file whose [calendar] applies (default: edubot.toml)"
    )

    export = sub.add_parser("export", help="print or write a venue's 成绩汇总表")
    _config_arg(export)
    export.add_argument(
        "--venue",
        "--forum",
        dest="venue",
        required=True,
        help="the venue key or its name (瑞泉中学会场, 瑞泉)",
    )
    export.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    export.add_argument("--out", type=Path)

    _submissions_parser(sub)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations")
    _config_arg(upgrade)

    _workbook_parsers(sub)

    doctor = sub.add_parser("doctor", help="pre-flight check, one line per item with the fix")
    _config_arg(doctor)
    doctor.add_argument("--send-test", action="store_true", help="send each group a test message")

    demo = sub.add_parser("demo", help="play the whole story on a sample campaign")
    demo.add_argument("--out", type=Path, default=Path.cwd())
    demo.add_argument("--keep", action="store_true", help="leave service and emulator running")
    demo.add_argument("--fast", action="store_true", help="no pauses between steps")
    scene = "forum: the scoring day; reporting: a weekly 周报 over three weeks"
    demo.add_argument("--scene", choices=("forum", "reporting"), default="forum", help=scene)

    _chat_parser(sub)
    return parser


def _submissions_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subs = sub.add_parser("submissions", help="write a deadline's 提交情况 (xlsx) and files (zip)")
    _config_arg(subs)
    subs.add_argument("--deadline", required=True, help="the [[deadlines]] key (weekly, report)")
    subs.add_argument("--period", default="", help="one period of a repeating one (第2周, 3月)")
    subs.add_argument("--out", type=Path, default=Path("."), help="the folder to write into")


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service, scheduler and outbox sender")
    _config_arg(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-scheduler", action="store_true", help="web only (scale-out)")
    serve.add_argument(
        "--workers",
        type=int,
        help="intake processes behind the port (default: [server] workers; 0 = one per core)",
    )


def _chat_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="talk to the bot in the terminal as a configured person")
    _config_arg(chat)
    chat.add_argument("--as", dest="person", required=True)
    chat.add_argument(
        "--over",
        choices=("auto", "direct", "http", "stream", "websocket"),
        default="auto",
        help="the wire each message travels: stream (DingTalk Stream mode), websocket (WeCom "
        "robot long connection), http (the callback), direct (the dispatcher, no wire); "
        "default auto = the long connection the config uses for the person's platform, "
        "else direct. The platform emulator runs in-process: nothing reaches the platforms",
    )


def _workbook_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    template = sub.add_parser("template", help="write an empty campaign workbook (人员、群、会场…)")
    template.add_argument("workbook", type=Path, help="the .xlsx file to write")
    imp = sub.add_parser("import", help="check a filled workbook and write it into the config")
    imp.add_argument("workbook", type=Path, help="the filled .xlsx file")
    _config_arg(imp)
    exp = sub.add_parser("export-config", help="write the config's campaign as a workbook")
    exp.add_argument("workbook", type=Path, help="the .xlsx file to write")
    _config_arg(exp)
    reload = sub.add_parser("reload", help="check the config; every running serve applies it")
    _config_arg(reload)
    bind = sub.add_parser("bind-ids", help="fill missing platform ids from mobiles")
    _config_arg(bind)
    bind.add_argument("--dry-run", action="store_true", help="report only, write nothing")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; its exit code (2 config error, 1 other edubot error, 130 Ctrl-C)."""
    args = build_parser().parse_args(argv)
    quiet = args.command in (
        "demo",
        "chat",
        "check-config",
        "export",
        "calendar",
        "template",
        "import",
        "export-config",
        "doctor",
        "reload",
        "bind-ids",
    )
    level_name = str(args.log_level or ("WARNING" if quiet else "INFO")).upper()
    logging.basicConfig(
        level=getattr(logging, level_name, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    # Alembic logs "setup plugin …" for each of its built-in plugins at every start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        return _run(args)
    except ConfigError as exc:
        more = len(exc.problems) - 1
        hint = f"（另有 {more} 处，运行 edubot check-config 查看全部）" if more else ""
        print(f"配置错误 / config error: {exc}{hint}", file=sys.stderr)
        return 2
    except StorageError as exc:
        config = getattr(args, "config", None) or "the config file"
        print(
            f"数据库不可用 / database unavailable: {exc} — "
            f"check [database] url in {config}: is the server running, reachable and "
            "writable?",
            file=sys.stderr,
        )
        return 1
    except EdubotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A data folder that cannot be made, a port already taken: one line, not a traceback.
        print(f"error: {exc} — check the paths and [server] settings", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    from bot import cli_actions, cli_setup  # noqa: PLC0415 - keeps `edubot --help` fast

    handlers = {
        "serve": cli_actions.serve,
        "check-config": cli_actions.check_config,
        "calendar": cli_actions.calendar,
        "export": cli_actions.export,
        "db": cli_actions.db_upgrade,
        "demo": cli_actions.demo,
        "chat": cli_actions.chat,
        "doctor": cli_actions.doctor,
        "template": cli_actions.template,
        "import": cli_actions.import_workbook,
        "submissions": cli_actions.submissions,
        "export-config": cli_actions.export_config,
        "reload": cli_setup.reload,
        "bind-ids": cli_setup.bind_ids,
    }
    return handlers[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
