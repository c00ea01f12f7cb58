"""Reading the TOML file: environment interpolation, time zones, and errors that name the
file, the key and the problem."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ValidationError,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config.references import reference_problems
from bot.config.settings import Settings
from bot.errors import ConfigError

DEFAULT_DB_URL = "sqlite:///edubot.db"
DEFAULT_DATA_DIR = "edubot-data"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_settings(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate the TOML file at ``path``."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read the file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # Windows editors may add a BOM
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", "the file is not UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from exc
    base = Path(path).resolve().parent
    return settings_from_mapping(data, source=file, env=env, base_dir=base)


def settings_from_mapping(
    data: Mapping[str, Any],
    *,
    source: str = "<memory>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Settings:
    """Validate an already-parsed mapping (used by tests and the demo).

    With ``base_dir`` (the config file's folder), a relative SQLite path and ``data_dir``
    are taken relative to it, not to wherever the command happens to run."""
    environ = os.environ if env is None else env
    expanded = _expand(dict(data), "", source, environ)
    if base_dir is not None:
        resolve_paths(expanded, base_dir)
    tz_name = expanded.get("timezone", "Asia/Shanghai")
    try:
        tz = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(source, "timezone", f"unknown time zone '{tz_name}'") from exc
    _localize(expanded, tz)
    old = _accept_old_names(expanded, source)
    try:
        settings = Settings.model_validate({**expanded, "source": source})
    except ValidationError as exc:
        found = [
            (_as_written(_key_path(e["loc"], expanded), old), _problem(e)) for e in exc.errors()
        ]
        raise _all(source, found) from exc
    found = [(_as_written(key, old), problem) for key, problem in reference_problems(settings)]
    if found:
        raise _all(source, found)
    return settings


def _all(source: str, found: list[tuple[str, str]]) -> ConfigError:
    """One error naming the first problem and carrying every other one."""
    (key, problem), *more = found
    return ConfigError(source, key, problem, more=tuple(more))


OLD_NAMES = {"forums": "venues"}
"""Keys of earlier releases, still read: ``[[forums]]`` is now ``[[venues]]`` (one entry per
会场), and so is a digest's ``forums``."""


def resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make the database file and ``data_dir`` absolute against ``base`` (in place); the
    defaults (``sqlite:///edubot.db``, ``edubot-data``) too."""
    database = data.setdefault("database", {})
    server = data.setdefault("server", {})
    if isinstance(database, dict):
        database["url"] = sqlite_url_against(str(database.get("url", DEFAULT_DB_URL)), base)
    if isinstance(server, dict):
        folder = Path(str(server.get("data_dir", DEFAULT_DATA_DIR))).expanduser()
        server["data_dir"] = str(folder if folder.is_absolute() else base / folder)


def sqlite_url_against(url: str, base: Path) -> str:
    """``sqlite:///edubot.db`` → ``sqlite:////etc/edubot/edubot.db``; other URLs, absolute
    paths and in-memory databases unchanged."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # reported by the settings' own validation
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return url
    if database.startswith("file:") or Path(database).expanduser().is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)


def _accept_old_names(data: dict[str, Any], source: str) -> dict[str, str]:
    """Rename old keys in place (top level and in each digest).

    Returns the key paths as validation names them (``venues``, ``digests[0].venues``)
    mapped to the path as the file wrote it, for the error messages.
    """
    written: dict[str, str] = {}
    digests = data.get("digests", ())
    tables = [("", data)] + [
        (f"digests[{i}].", d) for i, d in enumerate(digests) if isinstance(d, dict)
    ]
    for prefix, table in tables:
        for old, new in OLD_NAMES.items():
            if old not in table:
                continue
            if new in table:
                raise ConfigError(
                    source,
                    f"{prefix}{old}",
                    f"'{old}' is the old name of '{new}'; keep only '{new}'",
                )
            table[new] = table.pop(old)
            written[f"{prefix}{new}"] = f"{prefix}{old}"
    return written


def _as_written(key: str, written: dict[str, str]) -> str:
    """A key path in the names the file uses (``forums[0]`` where the file says forums)."""
    for new, old in written.items():
        if key == new or key.startswith((f"{new}[", f"{new}.")):
            return old + key[len(new) :]
    return key


def _expand(value: Any, key: str, source: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = env.get(name)
            # As in the shell, ":-" also replaces a variable that is set but empty.
            if found is not None and (found or default is None):
                return found
            if default is not None:
                return default
            raise ConfigError(source, key, f"environment variable {name} is not set")

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else k, source, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]", source, env) for i, v in enumerate(value)]
    return value


_DATETIME_KEYS = {"starts_at", "due", "start", "end"}


def _localize(value: Any, tz: ZoneInfo) -> None:
    """Give naive datetimes (TOML local date-times, or strings) the config time zone."""
    if isinstance(value, dict):
        for k, v in list(value.items()):
            if k in _DATETIME_KEYS:
                value[k] = _as_aware(v, tz)
            else:
                _localize(v, tz)
    elif isinstance(value, list):
        for item in value:
            _localize(item, tz)


def _as_aware(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("/", "-"))
        except ValueError:
            return value  # pydantic reports it with the key
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value


def _key_path(loc: Sequence[int | str], data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


def _problem(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling against config.example.toml)"
    if error["type"] == "missing":
        return "required key is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
