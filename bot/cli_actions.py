"""What each ``edubot`` subcommand does, apart from ``bot.cli``'s argument parsing.

Each action takes the parsed arguments and returns an exit code. ``bot.cli`` imports this
module only once a subcommand runs, so ``edubot --help`` loads no config, database or web code.
(Not to be confused with ``handlers.commands``: the chat commands people send the bot.)
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from bot.config import Settings, desk_address_warning, load_settings, settings_from_mapping

log = logging.getLogger("edubot")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def serve(args: argparse.Namespace) -> int:
    """``edubot serve``: the HTTP service, and the scheduler and outbox sender unless told
    not; in ``--workers`` processes (default: ``[server] workers``; 0: one per core)."""
    from bot.holidays import holiday_warning  # noqa: PLC0415
    from bot.workers import default_workers, run  # noqa: PLC0415

    settings = _settings(args)
    host = args.host or settings.server.host
    for warning in (
        holiday_warning(settings, datetime.now(settings.tz)),
        desk_address_warning(settings.server, settings.desk, host),
    ):
        if warning:
            log.warning("%s", warning)
    run(
        settings,
        config=args.config,
        host=host,
        port=args.port if args.port is not None else settings.server.port,
        workers=args.workers or settings.server.workers or default_workers(settings.database.url),
        scheduler=not args.no_scheduler,
        log_level=args.log_level or "INFO",
    )
    return 0


def check_config(args: argparse.Namespace) -> int:
    """``edubot check-config``: validate the config and print the plan as of now."""
    from bot.config.report import check_file  # noqa: PLC0415
    from bot.planning.overview import describe  # noqa: PLC0415

    report = check_file(args.config)
    if report.settings is None:
        print(f"配置有误，共 {len(report.problems)} 处 / config errors:", file=sys.stderr)
        for line in report.problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    print(describe(report.settings, now=datetime.now(report.settings.tz)))
    if report.warnings:
        print("\n请核对 / warnings:")
        for line in report.warnings:
            print(f"  ⚠ {line}")
    return 0


def submissions(args: argparse.Namespace) -> int:
    """``edubot submissions``: a deadline's index (xlsx) and its files (zip), named by unit."""
    from bot.config_sync import sync_config  # noqa: PLC0415
    from handlers.submission_export import export_submissions, pick_deadlines  # noqa: PLC0415
    from storage.db import make_engine, make_session_factory, transaction, upgrade  # noqa: PLC0415

    settings = _settings(args)
    engine = make_engine(settings.database.url, **settings.database.engine_options())
    try:
        upgrade(engine)
        with transaction(make_session_factory(engine)) as session:
            sync_config(session, settings)
            chosen = pick_deadlines(session, args.deadline, args.period, datetime.now(settings.tz))
            done = export_submissions(
                session,
                chosen,
                data_dir=Path(settings.server.data_dir),
                out_dir=args.out,
                tz=settings.tz,
            )
    finally:
        engine.dispose()
    print(f"已导出：{done.index}（{done.rows} 行）、{done.archive}（{done.files} 个文件）")
    return 0


def calendar(args: argparse.Namespace) -> int:
    """``edubot calendar``: which source decides each day of a year (work or holiday)."""
    from bot.holidays import describe_year  # noqa: PLC0415

    if not 1900 <= args.year <= 2200:
        print(f"error: {args.year} is not a year edubot can plan", file=sys.stderr)
        return 2
    path = args.config
    if path is None and Path("edubot.toml").is_file():
        path = "edubot.toml"
    settings = load_settings(path) if path else settings_from_mapping({})
    if path:
        print(f"配置 / config: {path}")
    print(describe_year(settings.work_calendar, args.year))
    return 0


def export(args: argparse.Namespace) -> int:
    """``edubot export``: a venue's 成绩汇总表 to stdout (csv) or to ``--out``."""
    from bot.config_sync import sync_config  # noqa: PLC0415
    from handlers.score_sheet import export_venue  # noqa: PLC0415
    from storage.db import make_engine, make_session_factory, transaction, upgrade  # noqa: PLC0415

    settings = _settings(args)
    engine = make_engine(settings.database.url, **settings.database.engine_options())
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            sync_config(session, settings)
            text, path = export_venue(
                session, args.venue, fmt=args.format, out=args.out, tz=settings.tz
            )
    finally:
        engine.dispose()
    if path is None:
        sys.stdout.write(text)
    else:
        print(f"已导出：{path}", file=sys.stderr)
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    """``edubot db upgrade``: apply the Alembic migrations."""
    from storage.db import make_engine, upgrade  # noqa: PLC0415

    settings = _settings(args)
    engine = make_engine(settings.database.url, **settings.database.engine_options())
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print("database is at the latest schema", file=sys.stderr)
    return 0


def demo(args: argparse.Namespace) -> int:
    """``edubot demo``: play the sample campaign (see ``bot.devtools.demo``)."""
    from bot.devtools.demo import run_demo  # noqa: PLC0415

    return run_demo(out=args.out, keep=args.keep, fast=args.fast, scene=args.scene)


def chat(args: argparse.Namespace) -> int:
    """``edubot chat``: talk to the bot in the terminal (see ``bot.devtools.chat``)."""
    from bot.devtools.chat import run_chat  # noqa: PLC0415

    return run_chat(_settings(args), args.person, over=args.over)


def template(args: argparse.Namespace) -> int:
    """``edubot template``: an empty campaign workbook with instructions and examples."""
    from bot.workbook.template import write_workbook  # noqa: PLC0415

    write_workbook(args.workbook, {})
    print(f"已生成模板：{args.workbook}（填好后运行 edubot import {args.workbook}）")
    return 0


def import_workbook(args: argparse.Namespace) -> int:
    """``edubot import``: check a filled workbook; write its campaign into the config, or list
    every mistake (exit code 2)."""
    from bot.workbook.toml_file import import_workbook as run_import  # noqa: PLC0415
    from bot.workbook.toml_file import imported  # noqa: PLC0415

    problems = run_import(args.workbook, Path(args.config))
    if problems:
        print(f"{args.workbook} 有 {len(problems)} 处需要改正，配置未修改：", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(f"已导入到 {args.config}：{imported(load_settings(args.config))}。")
    return 0


def export_config(args: argparse.Namespace) -> int:
    """``edubot export-config``: the config's campaign as the workbook ``import`` reads."""
    from bot.workbook.toml_file import export_workbook  # noqa: PLC0415

    export_workbook(Path(args.config), args.workbook)
    print(f"已导出：{args.workbook}")
    return 0


def doctor(args: argparse.Namespace) -> int:
    """``edubot doctor``: one ✓/✗ line per pre-flight item; exit code 1 when any is ✗."""
    from datetime import UTC  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    from bot.doctor import run_doctor  # noqa: PLC0415

    with httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0)) as http:
        checks = run_doctor(
            Path(args.config), http=http, now=datetime.now(UTC), send_test=args.send_test
        )
    for check in checks:
        print(check.line())
    return 1 if any(c.status == "bad" for c in checks) else 0
