"""Wiring the background side: senders, outbox, scheduler, the long connections to the
platforms, and closing them again."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import httpx

from bot.app import Services
from bot.clock import Clock
from bot.config import Settings
from bot.connections.backoff import Backoff
from bot.connections.lease import DatabaseLease, robot_lease_name, stream_lease_name
from bot.connections.runner import LongConnection
from bot.connections.runner import Session as LinkSession
from bot.outbox import OutboxSender
from bot.planning.pictures import draw_picture
from bot.planning.refresh import refresh, refreshes
from bot.planning.role import PlannerRole
from bot.planning.venue_reminders import plan_venue_reminders
from bot.platforms.dingtalk.stream import DingTalkStream
from bot.platforms.router import build_router
from bot.platforms.wecom.longconn import WeComLongConnection
from bot.scheduler import Scheduler, instance_name
from bot.senders.base import Sender
from bot.senders.swappable import SwappableSender
from bot.storable import check_storable
from handlers.messages import InboundMessage, Reply
from storage.db import transaction

log = logging.getLogger("edubot")


class _HttpCloser:
    """Stops the outbox's send threads and closes the shared HTTP client, after the
    scheduler has stopped; routes the outbox's pushes by a reloaded config."""

    def __init__(
        self, http: httpx.Client, outbox: OutboxSender, routes: Callable[[Settings], None]
    ) -> None:
        self._http = http
        self._outbox = outbox
        self._routes = routes

    def use_settings(self, settings: Settings) -> None:
        """A reloaded config (``bot.reloading``): its groups' robots from now on."""
        self._routes(settings)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self._outbox.close()
        self._http.close()

    def wake(self) -> None:
        return None

    def healthy(self) -> bool:
        return True


def make_outbox(
    services: Services, http: httpx.Client, *, send_threads: int = 1, background: bool = False
) -> OutboxSender:
    """An outbox sender over the real platform senders (URLs from the config).

    ``send_threads`` > 1 sends each robot's pushes in a lane of its own, robots side by side
    (``edubot serve``, with ``background``: a drain starts the lanes and returns); the
    default sends one by one, so arrivals keep the order of the queue (demo, tests).
    """
    return _make_outbox(services, http, send_threads=send_threads, background=background)[0]


def _make_outbox(
    services: Services, http: httpx.Client, *, send_threads: int, background: bool
) -> tuple[OutboxSender, Callable[[Settings], None]]:
    """The outbox sender, and what re-routes it by a reloaded config."""

    def routes(settings: Settings) -> Sender:
        return build_router(settings, http=http, clock=services.clock, robot=services.robot_channel)

    router = SwappableSender(routes(services.settings))
    outbox = OutboxSender(
        services.factory,
        router,
        clock=services.clock,
        settings=services.settings.outbox,
        instance=instance_name(),
        refresh=partial(refresh, tz=services.settings.tz),
        refreshes=refreshes,
        prepare=partial(draw_picture, services.factory),
        send_threads=send_threads,
        background=background,
    )
    return outbox, lambda settings: router.swap(routes(settings))


def plan_on_start(services: Services) -> int:
    """Venue reminders are planned when the config is synced (idempotent)."""
    with transaction(services.factory) as session:
        return plan_venue_reminders(session, services.settings, services.clock.now())


def settle_heap() -> int:
    """Collect the start-up garbage, then move every object alive now (modules, config,
    catalog, compiled statements, the app: ~150,000 of them) out of the collector's reach.

    They live as long as the process, yet every full collection walked them all again: 80 to
    200 ms with serve's heap, paid by whichever request happened to trigger it. Returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up heap settled: %d objects left out of garbage collection", frozen)
    return frozen


def outbound_client(settings: Settings) -> httpx.Client:
    """The HTTP client for pushes and answers: each platform's hosts through its configured
    ``proxy``; any other host (and every host when none is configured) as ``HTTPS_PROXY``
    and ``NO_PROXY`` say."""
    mounts: dict[str, httpx.BaseTransport] = {}
    wecom, dingtalk = settings.wecom, settings.dingtalk
    for proxy, bases in (
        (wecom.proxy, (wecom.api_base,)),
        (dingtalk.proxy, (dingtalk.api_base, dingtalk.oapi_base)),
    ):
        for base in bases if proxy else ():
            url = httpx.URL(base)
            mounts[f"all://{url.host}" + (f":{url.port}" if url.port else "")] = (
                httpx.HTTPTransport(proxy=proxy)
            )
    return httpx.Client(timeout=request_timeout(settings.outbox.request_timeout_s), mounts=mounts)


def request_timeout(total_s: float) -> httpx.Timeout:
    """httpx's per-phase timeouts adding up to ``total_s``: waiting for a pooled connection,
    connecting and sending get a sixth each (5 s at most), reading the answer the rest. The
    outbox's lease relies on this bound (``[outbox] request_timeout_s``)."""
    phase = min(5.0, total_s / 6)
    return httpx.Timeout(total_s - 3 * phase, connect=phase, write=phase, pool=phase)


def attach_background(
    services: Services, http: httpx.Client | None = None, *, role: PlannerRole | None = None
) -> OutboxSender:
    """Give ``services`` its scheduler; returns the outbox sender it drives. With ``role``
    it plans only while holding that role (``edubot serve``: one planner per database)."""
    client = http or outbound_client(services.settings)
    outbox, reroute = _make_outbox(
        services, client, send_threads=services.settings.outbox.send_threads, background=True
    )
    services.background.append(_HttpCloser(client, outbox, reroute))
    scheduler = Scheduler(
        services.factory, services.settings, outbox, clock=services.clock, role=role
    )
    outbox.wake_with(scheduler.wake)  # a lane that ends lets its robot's next pushes go
    services.background.append(scheduler)
    return outbox


def _handle(services: Services) -> Callable[[InboundMessage], Reply]:
    """What a long connection does with a message: what the HTTP endpoint does."""

    def handle(message: InboundMessage) -> Reply:
        check_storable(message)
        return services.dispatcher.process(message).reply

    return handle


STREAM_LEASE_S = 20.0
"""The DingTalk Stream lease: renewed every 5 s; a dead holder's link moves within 20 s."""


def attach_connections(
    services: Services,
    *,
    backoff: Backoff | None = None,
    ping_interval: float = 20.0,
    heartbeat: float = 30.0,
    lease_clock: Clock | None = None,
    instance: str | None = None,
    lease_stream: bool = False,
) -> list[LongConnection]:
    """Give ``services`` the long connections its settings ask for (none in HTTP mode).

    ``backoff``, ``ping_interval`` (DingTalk) and ``heartbeat`` (WeCom) are the production
    values unless a test shortens them. The WeCom robot's connection is leased (one holder
    among the processes and instances on the database); so is DingTalk's Stream connection
    when ``lease_stream`` (``serve --workers N``: DingTalk would take one per process, and
    without the lease a restarted instance reconnects at once). The leases run on
    ``lease_clock`` (default: the services' clock) in the name of ``instance`` (default:
    host:pid).
    """
    added: list[LongConnection] = []
    holder = instance or instance_name()

    def leased(name: str, link: LinkSession, lease_name: str | None, ttl: float) -> None:
        clock, span = lease_clock or services.clock, timedelta(seconds=ttl)
        lease = None
        if lease_name is not None:
            lease = DatabaseLease(services.factory, lease_name, holder, clock=clock, ttl=span)
        added.append(
            LongConnection(name, link, lease=lease, lease_interval=ttl / 4, backoff=backoff)
        )

    dingtalk = services.settings.dingtalk
    if dingtalk.mode == "stream":
        session = DingTalkStream(
            dingtalk,
            _handle(services),
            max_data_bytes=services.settings.server.max_body_bytes,
            ping_interval=ping_interval,
        )
        lease_name = stream_lease_name(dingtalk.app_key) if lease_stream else None
        leased("dingtalk-stream", session, lease_name, STREAM_LEASE_S)
    wecom = services.settings.wecom
    if wecom.robot_mode == "websocket":
        robot = WeComLongConnection(
            wecom,
            _handle(services),
            heartbeat=heartbeat,
            max_frame_bytes=services.settings.server.max_body_bytes,
            channel=services.robot_channel,
        )
        lease_name = robot_lease_name(wecom.robot_bot_id)
        leased("wecom-robot", robot, lease_name, wecom.robot_lease_seconds)
    services.background.extend(added)
    return added
