"""One config object: a TOML file in, a frozen, validated ``Settings`` out.

Every problem becomes a ``ConfigError`` naming the file, the key (``venues[1].judges[2]``) and
what is wrong. Naive datetimes in the file are read in the file's ``timezone``. Any string value
may be ``${ENV_VAR}`` or ``${ENV_VAR:-default}`` so secrets can live in the environment.

::

    base.py        the frozen model base and list coercions
    service.py     [server] [database] [wecom] [dingtalk] [outbox] [calendar]
    campaign.py    [[units]] [[groups]] [[people]] [[rubrics]] [[venues]] [[deadlines]] [[digests]]
                   [[campaigns]]
    settings.py    Settings, the whole file
    loading.py     load_settings / settings_from_mapping: TOML, ${ENV}, time zones, errors
    references.py  cross-references between sections
    report.py      check-config: every mistake with its line, in Chinese; warnings

This package's namespace is the public API: import from ``bot.config``.
"""

from __future__ import annotations

from bot.config.base import Role
from bot.config.campaign import (
    CampaignConfig,
    DeadlineConfig,
    DigestConfig,
    GroupConfig,
    PersonConfig,
    PhaseConfig,
    RubricConfig,
    RubricItemConfig,
    UnitConfig,
    VenueConfig,
)
from bot.config.desk import WILDCARD_HOSTS, desk_address_warning
from bot.config.loading import load_settings, settings_from_mapping
from bot.config.service import (
    CalendarSettings,
    DatabaseSettings,
    DingTalkSettings,
    OutboxSettings,
    ServerSettings,
    WeComSettings,
)
from bot.config.settings import Settings
from bot.errors import ConfigError

__all__ = [
    "WILDCARD_HOSTS",
    "CalendarSettings",
    "CampaignConfig",
    "ConfigError",
    "DatabaseSettings",
    "DeadlineConfig",
    "DigestConfig",
    "DingTalkSettings",
    "GroupConfig",
    "OutboxSettings",
    "PersonConfig",
    "PhaseConfig",
    "Role",
    "RubricConfig",
    "RubricItemConfig",
    "ServerSettings",
    "Settings",
    "UnitConfig",
    "VenueConfig",
    "WeComSettings",
    "desk_address_warning",
    "load_settings",
    "settings_from_mapping",
]
