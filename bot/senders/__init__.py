"""Outbound delivery, the platform-neutral part: the ``Sender`` port, size limits, the router.

::

    base     the ``Sender`` port, the errcode table and the HTTP helpers every sender uses
    limits   the platforms' size limits (splitting a text to fit is ``handlers.text``)
    router   picks the platform sender for an ``OutboundMessage``; ``build_router`` makes them

The senders themselves live with their platform (``bot.platforms.wecom`` and
``bot.platforms.dingtalk``); they import ``base`` and ``limits`` from here, so this package
imports no platform (``router`` does, and is not imported here).
"""

from __future__ import annotations

from bot.senders.base import Sender
from bot.senders.limits import LIMITS, max_text_bytes

__all__ = ["LIMITS", "Sender", "max_text_bytes"]
