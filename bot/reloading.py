"""Changes without a restart (issue 19, item 4): ``serve`` notices a changed config file or
``edubot reload`` and applies it, or keeps the old one and says why.

Every ``config_poll_seconds`` each instance

1. writes the organizers' chat edits (``config_edits``) into its file (``bot.config_edits``);
2. reloads the file when its bytes changed or the ``config_reload`` counter moved (``edubot
   reload`` bumps it in the shared database, so every instance sees it);
3. validates it; a valid file is synced into the database (``bot.config_sync``; the catalog
   counter moves, so every instance's next message sees the new structure) and the venue
   reminders are re-planned; an invalid one leaves the old config in force, with a warning in
   the log, in ``/healthz`` and, once per broken version, in the organizers' group.

What only a restart changes ([server], [database], platform credentials) is logged as such.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from sqlalchemy.exc import IntegrityError

from bot.app import Services
from bot.config import Settings, load_settings
from bot.config_edits import write_edits
from bot.config_sync import sync_config
from bot.errors import ConfigError
from bot.outbox.alerts import tell_organizer_groups
from bot.planning.venue_reminders import plan_venue_reminders
from storage.bindings import RELOAD, mark_edits, pending_edits
from storage.db import transaction
from storage.errors import StorageUnavailable
from storage.meta import counter
from storage.setup_models import FAILED

log = logging.getLogger("edubot.reload")

_RESTART_ONLY = ("server", "database", "wecom", "dingtalk", "timezone")


@runtime_checkable
class Reconfigurable(Protocol):
    """A background part that follows a reloaded config."""

    def use_settings(self, settings: Settings) -> None:
        """Use ``settings`` from now on."""
        ...


class _EditsPending(Exception):
    """Rolls a sync back: a chat edit is not in the file yet."""


class ConfigReloader:
    """A ``Background`` part of ``serve``: polls the config file (see the module docstring)."""

    def __init__(self, services: Services, path: Path, *, poll_seconds: float) -> None:
        self._services = services
        self._path = path
        self._poll = poll_seconds
        self._digest = _digest(path)
        self._counter: int | None = None
        self._failed = ""
        self._warning = ""
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0
        """How many times a changed config was applied (tests wait on it)."""

    def start(self) -> None:
        """Poll in a daemon thread (not at all when ``config_poll_seconds`` is 0)."""
        if self._poll <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="config-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the polling thread and wait for it."""
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """A message may have queued a chat edit: write it now."""
        self._kick.set()

    def healthy(self) -> bool:
        """The thread runs (or was never meant to)."""
        return self._thread is None or self._thread.is_alive() or self._stop.is_set()

    def warnings(self) -> list[str]:
        """Shown by ``/healthz``: the config file is invalid and the old one is in force."""
        return [self._warning] if self._warning else []

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:
                log.exception("config check failed; trying again at the next poll")
            self._kick.wait(self._poll)
            self._kick.clear()

    def check(self) -> bool:
        """One poll: write chat edits, reload a changed file. True when a new config applied."""
        self._write_edits()
        digest = _digest(self._path)
        with transaction(self._services.factory) as session:
            wanted = counter(session, RELOAD)
        if self._counter is None:
            self._counter = wanted
        if digest == self._digest and wanted == self._counter:
            return False
        self._counter = wanted
        self._digest = digest
        try:
            settings = load_settings(self._path)
        except ConfigError as exc:
            self._keep_old(exc, digest)
            return False
        try:
            applied = self._apply(settings)
        except (IntegrityError, StorageUnavailable):
            # Another instance synced the same file at the same moment: try again next poll.
            self._digest = ""
            raise
        if not applied:
            self._digest = ""  # a chat edit came in meanwhile: sync once it is in the file
        return applied

    def _write_edits(self) -> None:
        # The file is written between two transactions, not inside one: waiting for the
        # file's lock (an import running) must not hold every writer of the database.
        # Edits are idempotent on the file, so two instances writing the same one is fine.
        with transaction(self._services.factory) as session:
            edits = pending_edits(session)
        if not edits:
            return
        try:
            missed = write_edits(self._path, edits)
        except (ConfigError, OSError) as exc:
            missed = dict.fromkeys((e.id for e in edits), f"未能写入配置文件：{exc}")
        now = self._services.clock.now()
        with transaction(self._services.factory) as session:
            for edit_id, why in missed.items():
                log.error("chat edit #%d not written into %s: %s", edit_id, self._path, why)
                mark_edits(session, [edit_id], now, why, state=FAILED)
            mark_edits(session, [e.id for e in edits if e.id not in missed], now)

    def _apply(self, settings: Settings) -> bool:
        old = self._services.settings
        for section in _RESTART_ONLY:
            if getattr(old, section) != getattr(settings, section):
                log.warning("config [%s] changed: it takes effect at the next restart", section)
        now = self._services.clock.now()
        try:
            with transaction(self._services.factory) as session:
                sync_config(session, settings)
                # A chat edit committed while this sync ran would be undone by it: roll
                # back, and sync once the edit is in the file.
                if pending_edits(session, latest=True):
                    raise _EditsPending
                self._services.dispatcher.prime(session)
                planned = plan_venue_reminders(session, settings, now)
        except _EditsPending:
            return False
        self._services.settings = settings
        for item in self._services.background:
            if isinstance(item, Reconfigurable):
                item.use_settings(settings)  # the scheduler's planners, the outbox's routes
        self._warning = self._failed = ""
        self.applied += 1
        log.info("config %s applied without restart (%d reminders planned)", self._path, planned)
        return True

    def _keep_old(self, exc: ConfigError, digest: str) -> None:
        warning = f"配置文件有错误，仍在使用上一版配置：{exc}"
        log.warning("%s", warning)
        if digest != self._failed:  # the organizers hear once per broken version
            with transaction(self._services.factory) as session:
                tell_organizer_groups(
                    session,
                    f"【edubot 告警】{warning}。请改正后保存，服务会自动载入。",
                    dedupe_key=f"config-invalid:{digest}",
                    now=self._services.clock.now(),
                )
            self._failed = digest
        self._warning = warning


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def attach_reloader(services: Services, path: Path) -> ConfigReloader:
    """Give ``serve`` its config poller (``[server] config_poll_seconds``)."""
    reloader = ConfigReloader(
        services, path, poll_seconds=services.settings.server.config_poll_seconds
    )
    services.background.append(reloader)
    return reloader
