"""The web desk's links for ``edubot demo --keep``: a one-time login for the organizer and
for the 瑞泉中学 host, and a projector link for that venue's results board, all pointing at
the demo's loopback service (whose port is only known once it runs)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

from bot.app import Services
from bot.desk.tokens import DeskTokens
from storage.db import transaction
from storage.desk import add_board_link, add_login
from storage.people import person_by_name, venue_by_key

LOGINS = (("组织者 教育股", "教育股"), ("瑞泉中学会场主持人 李学斌", "李学斌"))
BOARD_VENUE = "ruiquan"


def desk_links(services: Services, base_url: str) -> list[tuple[str, str]]:
    """(who it is for, link) for the demo's desk; [] when the desk is off."""
    tokens = DeskTokens.of(services.settings)
    if tokens is None:
        return []
    tokens = replace(tokens, base_url=base_url.rstrip("/"))
    now = services.clock.now()
    links: list[tuple[str, str]] = []
    with transaction(services.factory) as session:
        for label, name in LOGINS:
            person = person_by_name(session, name)
            if person is None:
                continue
            nonce = secrets.token_urlsafe(24)
            expires = now + timedelta(minutes=tokens.link_minutes)
            add_login(
                session,
                nonce=nonce,
                person_id=person.id,
                now=now,
                expires_at=expires,
                source="edubot demo",
            )
            links.append((f"网页后台（{label}，一次性）", tokens.login_url(nonce, now)))
        venue = venue_by_key(session, BOARD_VENUE)
        host = person_by_name(session, "李学斌")
        if venue is not None and host is not None:
            nonce = secrets.token_urlsafe(24)
            add_board_link(session, nonce=nonce, venue_id=venue.id, person_id=host.id, now=now)
            links.append(("瑞泉中学会场成绩看板（投影）", tokens.board_url(nonce)))
    return links
