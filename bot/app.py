"""The HTTP service: an explicit route list, and one endpoint that drives any platform's
callback (``bot.platforms.inbound.Callback``) between the wire and the dispatcher.
``build_services`` and ``create_app`` are the composition root; nothing is built at import
time.

Every inbound request is verified first (403 and a log line otherwise), size checked (413),
parsed (400), then handled in a worker thread. A database in trouble answers 503 so the
platform retries; no input produces a 500.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import links
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.config.recurring import campaign_phases
from bot.config.scopes import oversight
from bot.config_sync import sync_config
from bot.desk.tokens import DeskTokens
from bot.desk.web import desk_routes
from bot.dispatcher import Dispatcher
from bot.errors import Forbidden, RequestError
from bot.health import HEALTH_TIMEOUT_S, HealthProbe
from bot.holidays import holiday_warning
from bot.http_body import read_body
from bot.intake import Intake
from bot.platforms.dingtalk import callback as dingtalk
from bot.platforms.inbound import Callback, WireAnswer, WireRequest
from bot.platforms.media import PlatformMedia
from bot.platforms.wecom import callback as wecom
from bot.platforms.wecom.robot_push import RobotChannel
from bot.storable import check_storable
from handlers.files import FileIntake
from handlers.messages import Channel
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.errors import StorageUnavailable
from storage.health import DatabaseHealth, check_database
from storage.startup import startup_lock

log = logging.getLogger("edubot.http")


class Background(Protocol):
    """What runs beside the web app: the outbox sender and the scheduler."""

    def start(self) -> None:
        """Begin work (the app has started)."""
        ...

    def stop(self) -> None:
        """End work and wait for it (the app is stopping)."""
        ...

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        ...

    def healthy(self) -> bool:
        """Whether the worker is still doing its job (``/healthz``)."""
        ...


@runtime_checkable
class Reporting(Protocol):
    """A background part ``/healthz`` lists by name (a long connection to a platform)."""

    def describe(self) -> dict[str, str]:
        """``{"name", "state", "reason"}``."""
        ...


@runtime_checkable
class Warns(Protocol):
    """A background part with warnings for ``/healthz`` (an invalid config kept out)."""

    def warnings(self) -> list[str]:
        """Each a sentence for the operator."""
        ...


@dataclass
class Services:
    """Everything the routes need, built once per app."""

    settings: Settings
    clock: Clock
    engine: Engine
    factory: sessionmaker[Session]
    dispatcher: Dispatcher
    callbacks: Mapping[Channel, Callback]
    background: list[Background] = field(default_factory=list)
    health: HealthProbe[DatabaseHealth] = field(
        default_factory=lambda: HealthProbe(HEALTH_TIMEOUT_S)
    )
    robot_channel: RobotChannel = field(default_factory=RobotChannel)
    """The WeCom robot's long connection while this instance holds it: the outbox pushes
    to groups without a webhook through it (``aibot_send_msg``)."""
    config: Path | None = None
    """The config file ``serve`` runs from (the desk's 活动设置 writes it, the reloader
    applies it); None for services built from settings alone (tests, the demo)."""

    def wake(self) -> None:
        """Nudge every background worker (a push was queued)."""
        for item in self.background:
            item.wake()


_SYNC_TRIES = 5


def _sync(factory: sessionmaker[Session], settings: Settings, dispatcher: Dispatcher) -> None:
    """Sync the config, again if an instance starting at the same time inserted the same
    rows first (a unique violation) or deadlocked with this one: the next try sees its
    rows and only updates them, so any number of instances converge."""
    for attempt in range(1, _SYNC_TRIES + 1):
        try:
            with transaction(factory) as session:
                sync_config(session, settings)
                dispatcher.prime(session)
            return
        except (IntegrityError, StorageUnavailable) as exc:
            if attempt == _SYNC_TRIES:
                raise
            # Another instance's rows or lock, usually; a database that refuses writes
            # looks the same from here, so say what it was.
            reason = "another instance's rows" if isinstance(exc, IntegrityError) else exc
            log.info("config sync try %d failed (%s); syncing again", attempt, reason)
            time.sleep(random.uniform(0.05, 0.2) * attempt)  # noqa: S311 - jitter


class _Closer:
    """A ``Background`` that only closes something when the app stops."""

    def __init__(self, close: Callable[[], None]) -> None:
        self._close = close

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self._close()

    def wake(self) -> None:
        return None

    def healthy(self) -> bool:
        return True


def _platform_files(
    settings: Settings, http: httpx.Client | None, clock: Clock, background: list[Background]
) -> Mapping[Channel, FileIntake]:
    """Files people send, fetched from the platforms; a client of its own when ``http`` is
    None, closed with the app."""
    media = PlatformMedia(
        settings, http=http, clock=clock, max_bytes=settings.server.max_upload_bytes
    )
    if http is None:
        background.append(_Closer(media.close))
    return media.intakes()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    migrate: bool = True,
    http: httpx.Client | None = None,
    files: Mapping[Channel, FileIntake] | None = None,
    config: Path | None = None,
) -> Services:
    """Connect, migrate, sync the config and wire the dispatcher.

    ``config`` is the file ``settings`` came from, when there is one (``serve``).

    Files people send are fetched from the platforms (``PlatformMedia``) through ``http``
    (a client of its own, made on first use and closed with the app, when not given).
    ``files`` replaces that per channel (tests); a channel left out refuses files.
    """
    clock = clock or SystemClock()
    engine = engine or make_engine(settings.database.url, **settings.database.engine_options())
    factory = make_session_factory(engine)
    background: list[Background] = []

    def wake() -> None:
        for item in background:
            item.wake()

    if files is None:
        files = _platform_files(settings, http, clock, background)
    dispatcher = Dispatcher(
        factory,
        clock=clock,
        tz=settings.tz,
        data_dir=Path(settings.server.data_dir),
        on_push=wake,
        files=files,
        phases=campaign_phases(settings),
        scopes=oversight(settings),
        desk=DeskTokens.of(settings),
        pictures=True,
    )
    if migrate:
        with startup_lock(engine):  # instances starting together take turns to migrate
            upgrade(engine)
    _sync(factory, settings, dispatcher)
    return Services(
        settings=settings,
        clock=clock,
        engine=engine,
        factory=factory,
        dispatcher=dispatcher,
        callbacks={
            "wecom_app": wecom.app_callback(settings.wecom),
            "wecom_robot": wecom.robot_callback(settings.wecom),
            "dingtalk": dingtalk.callback(settings.dingtalk),
        },
        background=background,
        config=config,
    )


def create_app(services: Services) -> Starlette:
    """The ASGI app. Background workers start and stop with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for item in services.background:
            item.start()
        try:
            yield
        finally:
            for item in reversed(services.background):
                item.stop()
            services.engine.dispose()

    intake = Intake(services.dispatcher)

    def callback(channel: Channel) -> Callable[[Request], Awaitable[Response]]:
        return _guard(services, _callback(services.callbacks[channel], intake))

    routes = [
        Route("/wecom/callback", callback("wecom_app"), methods=["GET"]),
        Route("/wecom/callback", callback("wecom_app"), methods=["POST"]),
        Route("/wecom/robot", callback("wecom_robot"), methods=["GET"]),
        Route("/wecom/robot", callback("wecom_robot"), methods=["POST"]),
        Route("/dingtalk/callback", callback("dingtalk"), methods=["POST"]),
        Route("/healthz", _guard(services, _healthz), methods=["GET"]),
        Route("/files/exports/{name}", _guard(services, _export_file), methods=["GET"]),
        *desk_routes(services.settings, services.factory, services.clock, config=services.config),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


Endpoint = Callable[[Services, Request], Awaitable[Response]]


def _guard(services: Services, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """Map deliberate errors to their status; anything else is logged and answered 503."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(services, request)
        except Forbidden as exc:
            log.warning("403 %s %s: %s", request.method, request.url.path, exc.reason)
            return PlainTextResponse("forbidden", status_code=403)
        except RequestError as exc:
            log.info("%d %s %s: %s", exc.status, request.method, request.url.path, exc.reason)
            return PlainTextResponse(exc.reason, status_code=exc.status)
        except StorageUnavailable as exc:
            log.error("503 %s: database unavailable: %s", request.url.path, exc)
            return PlainTextResponse("storage unavailable, retry", status_code=503)
        except Exception:
            log.exception("unexpected failure on %s %s", request.method, request.url.path)
            return PlainTextResponse("temporarily unavailable, retry", status_code=503)

    return run


def _callback(callback: Callback, intake: Intake) -> Endpoint:
    """The one endpoint every platform's callback route runs (see ``bot.platforms.inbound``)."""

    async def endpoint(services: Services, request: Request) -> Response:
        wire = WireRequest(request.method, request.query_params, request.headers)
        callback.verify(wire, now=services.clock.now())  # 403 before reading a body
        body = (
            b""
            if wire.is_read
            else await read_body(request, services.settings.server.max_body_bytes)
        )
        parsed = callback.parse(wire, body, now=services.clock.now())
        if isinstance(parsed, WireAnswer):
            return _response(parsed)
        check_storable(parsed)
        outcome = await intake.process(parsed)
        return _response(callback.answer(parsed, outcome.reply, now=services.clock.now()))

    return endpoint


def _response(answer: WireAnswer) -> Response:
    return Response(answer.body, media_type=answer.media_type)


async def _export_file(services: Services, request: Request) -> Response:
    """A signed download link for an exported sheet (see ``bot.links``)."""
    try:
        path = links.verify(
            services.settings.server,
            request.path_params["name"],
            request.query_params.get("exp", ""),
            request.query_params.get("sig", ""),
            services.clock.now(),
        )
    except LookupError as exc:
        raise Forbidden(f"download refused: {exc}") from exc
    return FileResponse(path, filename=path.name)


async def _healthz(services: Services, request: Request) -> Response:
    """Each part's state within ``HEALTH_TIMEOUT_S``, whatever the database does."""
    now = services.clock.now()
    engine, factory = services.engine, services.factory
    database = await services.health.run(lambda: check_database(engine, factory, now))
    if database is None:  # still waiting: a hung database is a degraded service
        database = DatabaseHealth(False, False, problem="database did not answer within 0.8 s")
    workers = all(item.healthy() for item in services.background)
    connections = [item.describe() for item in services.background if isinstance(item, Reporting)]
    ok = database.read and database.write and workers
    # Warnings tell the operator about a coming problem; they do not make the service degraded.
    warning = holiday_warning(services.settings, now)
    warnings = [warning] if warning else []
    warnings += [
        w for item in services.background if isinstance(item, Warns) for w in item.warnings()
    ]
    oldest = database.oldest_due
    body: dict[str, object] = {
        "status": "ok" if ok else "degraded",
        "database": database.read and database.write,
        "database_read": database.read,
        "database_write": database.write,
        "scheduler": workers,
        "outbox_backlog": database.backlog,
        "outbox_oldest_due": oldest.isoformat() if oldest else None,
        "connections": connections,
        "warnings": warnings,
    }
    if database.problem:
        body["problem"] = database.problem
    return JSONResponse(body, status_code=200 if ok else 503)
