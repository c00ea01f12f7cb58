"""Outbound delivery, the platform-neutral part: the ``Sender`` port and the size limits.

::

    base     the ``Sender`` port, the errcode table and the HTTP helpers every sender uses
    limits   the platforms' size limits (splitting a text to fit is ``handlers.text``)

The senders themselves live with their platform (``bot.platforms.wecom`` and
``bot.platforms.dingtalk``) and import ``base`` and ``limits`` from here; the router that
picks one for an ``OutboundMessage`` is ``bot.platforms.router``. This package imports no
platform.
"""

from __future__ import annotations

from bot.senders.base import Sender
from bot.senders.limits import LIMITS, max_text_bytes

__all__ = ["LIMITS", "Sender", "max_text_bytes"]
