"""Shared pieces of the config models: the frozen base and the list coercions."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

Role = Literal["judge", "host", "principal", "leader", "organizer", "admin"]


def _offsets(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    return value


def _text_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


TextList = Annotated[tuple[str, ...], BeforeValidator(_text_list)]
OffsetList = Annotated[tuple[str, ...], BeforeValidator(_offsets)]


class FrozenModel(BaseModel):
    """Every config model: immutable, unknown keys refused, strings stripped."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _date_texts(value: Any) -> Any:
    """Accept TOML dates (``2027-01-01``) and strings (``"2027-01-01"``, ranges) alike."""
    if isinstance(value, str | date):
        value = [value]
    if isinstance(value, list):
        return [v.isoformat() if isinstance(v, date) else v for v in value]
    return value


DateList = Annotated[tuple[str, ...], BeforeValidator(_date_texts)]


def squeeze(text: str) -> str:
    """A name as people type it: the seeds pad names ("李  强", "教育 股"), chat does not."""
    return _SPACE.sub("", text)


_SPACE = re.compile(r"\s+")
