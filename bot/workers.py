"""``edubot serve [--workers N]``: one intake process, or N behind one port.

With one worker the app is built here and served in this process. With N, uvicorn's
supervisor binds the port, starts N worker processes that share its socket (the kernel
hands each new connection to one of them) and starts a new one when a worker dies. Each
worker is a whole intake: it builds its own services from the config named in the
environment (``app_from_environment``, the app factory), with its own database pool.

What keeps N processes on one database correct:

- every message is one transaction whose inbound-log row is unique, so a retried delivery
  that lands on another worker is answered from the log, never recorded twice;
- on SQLite the writers of all processes queue on a file lock (``storage.filelock``)
  instead of SQLite's sleep-polling busy handler;
- every worker drains the outbox (rows are claimed in the database); one process, the
  holder of the planner role (``bot.planning.role``), runs the planners and digests;
- each long connection to a platform is leased, so one worker holds it (the DingTalk
  Stream one only here: several instances may each hold one, as DingTalk allows).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from bot.config import Settings, load_settings
from handlers.errors import EdubotError
from storage.db import sqlite_in_memory
from storage.errors import StorageError

log = logging.getLogger("edubot")

ENV_CONFIG = "EDUBOT_SERVE_CONFIG"
ENV_NO_SCHEDULER = "EDUBOT_SERVE_NO_SCHEDULER"
ENV_LOG_LEVEL = "EDUBOT_SERVE_LOG_LEVEL"
ENV_WORKERS = "EDUBOT_SERVE_WORKERS"
ENV_READ_TIMEOUT = "EDUBOT_SERVE_READ_TIMEOUT_S"
ENV_STARTED = "EDUBOT_SERVE_STARTED_AT"
ENV_FIRST_START_S = "EDUBOT_SERVE_FIRST_START_S"
FIRST_START_S = "60"
"""A worker that cannot start within this long of serve's start stops serve; later (a
replacement for one that died) it only retries."""
RETRY_S = 5
DEFAULT_MAX = 8
"""The most workers serve starts when neither ``--workers`` nor ``[server] workers`` says:
SQLite takes one writer at a time, and each worker holds its own memory and pool."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def default_workers(database_url: str | None = None) -> int:
    """One worker per core this process may use, at most ``DEFAULT_MAX``; one for an
    in-memory SQLite database, which each worker would have a copy of its own."""
    if database_url is not None and sqlite_in_memory(database_url):
        return 1
    return max(1, min(DEFAULT_MAX, usable_cores()))


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2's CPU limit of this process's group: "max 100000" or "150000 100000"."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU set, not the host's), fewer when its
    cgroup limits its CPU time (``docker run --cpus 1.5``: 2, rounded up)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = CPU_MAX.read_text(encoding="ascii").split()[:2]
        limit = math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2, or "max": no limit
        return cores
    return max(1, min(cores, limit))


def serving_app(
    settings: Settings, config: str | Path, *, scheduler: bool = True, workers: int = 1
) -> Starlette:
    """One intake process's app: services, the scheduler (planning only while holding the
    planner role) unless ``scheduler`` is false, the long connections, the watcher of the
    ``config`` file (``bot.reloading``); the start-up heap is then frozen
    (``bot.runtime.settle_heap``)."""
    from bot.app import build_services, create_app  # noqa: PLC0415 - keeps --help fast
    from bot.planning.role import PlannerRole  # noqa: PLC0415
    from bot.reloading import attach_reloader  # noqa: PLC0415
    from bot.runtime import (  # noqa: PLC0415
        attach_background,
        attach_connections,
        plan_on_start,
        settle_heap,
    )
    from bot.scheduler import instance_name  # noqa: PLC0415

    services = build_services(settings, config=Path(config))
    if scheduler:
        role = PlannerRole(services.factory, instance_name(), clock=services.clock)
        if role.held():
            plan_on_start(services)
        attach_background(services, role=role)
    attach_connections(services, lease_stream=workers > 1)
    attach_reloader(services, Path(config))
    app = create_app(services)
    settle_heap()
    return app


def app_from_environment() -> Starlette:
    """The app factory uvicorn calls in each worker process (``--workers`` > 1)."""
    level = os.environ.get(ENV_LOG_LEVEL, "INFO")
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    config = os.environ[ENV_CONFIG]
    scheduler = os.environ.get(ENV_NO_SCHEDULER) != "1"
    workers = int(os.environ[ENV_WORKERS])
    from uvicorn.config import STARTUP_FAILURE  # noqa: PLC0415

    try:
        return serving_app(load_settings(config), config, scheduler=scheduler, workers=workers)
    except (EdubotError, StorageError) as exc:  # a config or database problem: one line
        log.error("worker %d could not start: %s", os.getpid(), exc)
    except Exception:
        log.exception("worker %d could not start", os.getpid())
    started = float(os.environ.get(ENV_STARTED, "0"))
    if time.time() - started < float(os.environ.get(ENV_FIRST_START_S, FIRST_START_S)):
        # serve is starting: stop it (exit 1, the reason above) rather than restart forever.
        raise SystemExit(STARTUP_FAILURE)
    # A worker replacing one that died, while the others serve: a config saved broken
    # since, or a database hiccup, must not take them down. Try again after a pause.
    log.error("the other workers go on serving; this one tries again in %d s", RETRY_S)
    time.sleep(RETRY_S)
    raise SystemExit(1)  # the supervisor starts a new one


def __getattr__(name: str) -> type[asyncio.Protocol]:
    """``bot.workers:HTTPProtocol``: the HTTP protocol with ``[server] read_timeout_s`` (as
    the supervisor read it), named by import path because worker processes are spawned,
    not forked."""
    if name != "HTTPProtocol":
        raise AttributeError(name)
    from bot.http_timeouts import timed_protocol  # noqa: PLC0415

    return timed_protocol(float(os.environ[ENV_READ_TIMEOUT]))


def run(
    settings: Settings,
    *,
    config: str | Path,
    host: str,
    port: int,
    workers: int,
    scheduler: bool = True,
    log_level: str = "INFO",
) -> None:
    """Serve until stopped: in this process (``workers`` = 1) or in ``workers`` processes."""
    import uvicorn  # noqa: PLC0415

    from bot.http_timeouts import timed_protocol  # noqa: PLC0415

    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": settings.server.access_log,
        "ws": "none",  # the long connections are clients (bot.connections), not served here
    }
    if workers <= 1:
        app = serving_app(settings, config, scheduler=scheduler)
        uvicorn.run(app, http=timed_protocol(settings.server.read_timeout_s), **common)
        return
    _migrate(settings)  # here, so that a database problem is one line, not N tracebacks
    os.environ[ENV_CONFIG] = str(Path(config).resolve())
    os.environ[ENV_NO_SCHEDULER] = "0" if scheduler else "1"
    os.environ[ENV_LOG_LEVEL] = log_level.upper()
    os.environ[ENV_WORKERS] = str(workers)
    os.environ[ENV_READ_TIMEOUT] = repr(settings.server.read_timeout_s)
    os.environ[ENV_STARTED] = repr(time.time())
    log.info("serving with %d worker processes on %s:%d", workers, host, port)
    _supervise(
        uvicorn.Config(
            f"{__name__}:app_from_environment",
            factory=True,
            workers=workers,
            http=f"{__name__}:HTTPProtocol",
            **common,
        )
    )


def _supervise(config: Any) -> None:
    """uvicorn's supervisor, as ``uvicorn.run`` starts it, but a worker that could not start
    (its app failed to build) fails the command: the supervisor stops without saying so."""
    from uvicorn.config import STARTUP_FAILURE  # noqa: PLC0415
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        raise EdubotError(
            f"a worker process ({', '.join(map(str, failed))}) failed to start, so serve "
            "stopped; its error is in the log above"
        )


def _migrate(settings: Settings) -> None:
    from storage.db import make_engine, upgrade  # noqa: PLC0415
    from storage.startup import startup_lock  # noqa: PLC0415

    engine = make_engine(settings.database.url, **settings.database.engine_options())
    try:
        with startup_lock(engine):
            upgrade(engine)
    finally:
        engine.dispose()
