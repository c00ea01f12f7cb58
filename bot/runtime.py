"""Wiring the background side: senders, outbox, scheduler, and closing them again."""

from __future__ import annotations

import httpx

from bot.app import Services
from bot.outbox import OutboxSender
from bot.planning.refresh import refresh, refreshes
from bot.planning.venue_reminders import plan_venue_reminders
from bot.platforms.router import build_router
from bot.scheduler import Scheduler, instance_name
from storage.db import transaction


class _HttpCloser:
    """Stops the outbox's send threads and closes the shared HTTP client, after the
    scheduler has stopped."""

    def __init__(self, http: httpx.Client, outbox: OutboxSender) -> None:
        self._http = http
        self._outbox = outbox

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self._outbox.close()
        self._http.close()

    def wake(self) -> None:
        return None

    def healthy(self) -> bool:
        return True


def make_outbox(services: Services, http: httpx.Client, *, send_threads: int = 1) -> OutboxSender:
    """An outbox sender over the real platform senders (URLs from the config).

    ``send_threads`` > 1 sends different robots' pushes in parallel (``edubot serve``); the
    default sends one by one, so arrivals keep the order of the queue (demo, tests).
    """
    router = build_router(services.settings, http=http, clock=services.clock)
    return OutboxSender(
        services.factory,
        router,
        clock=services.clock,
        settings=services.settings.outbox,
        instance=instance_name(),
        refresh=refresh,
        refreshes=refreshes,
        send_threads=send_threads,
    )


def plan_on_start(services: Services) -> int:
    """Venue reminders are planned when the config is synced (idempotent)."""
    with transaction(services.factory) as session:
        return plan_venue_reminders(session, services.settings, services.clock.now())


def attach_background(services: Services, http: httpx.Client | None = None) -> OutboxSender:
    """Give ``services`` its scheduler; returns the outbox sender it drives."""
    client = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
    outbox = make_outbox(services, client, send_threads=services.settings.outbox.send_threads)
    services.background.append(_HttpCloser(client, outbox))
    services.background.append(
        Scheduler(services.factory, services.settings, outbox, clock=services.clock)
    )
    return outbox
