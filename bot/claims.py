"""Claiming an inbound message: its log row, inserted first, with the catalog and the
sender as of that moment (``Dispatcher``'s first step for every message)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.catalog import Catalog, CatalogCache
from handlers.messages import InboundMessage
from storage.inbound import (
    InboundRecord,
    claim_inbound,
    claim_inbounds_counting,
    claim_reads_counters,
    set_inbound_sender,
)
from storage.meta import CATALOG
from storage.people import Member

Claim = tuple[Catalog, Member | None, int]
"""The catalog as of the claim, the sender in it (None: a stranger), the log row's id."""


class Claims:
    """Claims messages against the process's cached catalog."""

    def __init__(self, catalog: CatalogCache) -> None:
        self._catalog = catalog

    def one(self, session: Session, message: InboundMessage, now: datetime) -> Claim:
        """The catalog, the sender in it, and the log row's id. The sender is on the log
        row before the handler runs: 提交 with a file and a caption reads the sender's
        recent texts, this one included. On PostgreSQL the catalog's counter comes back
        with the claim (a round trip less: ``many``)."""
        counted = self.many(session, [message], now)
        if counted is not None:
            return counted[0]
        catalog = self._catalog.get(session)
        person = catalog.member(message.platform, message.sender_id)
        inbound_id = claim_inbound(session, _record(message), now, person_id=_id(person))
        return catalog, person, inbound_id

    def many(
        self, session: Session, messages: Sequence[InboundMessage], now: datetime
    ) -> list[Claim] | None:
        """``one`` for each of ``messages``, in one round trip, on PostgreSQL with the
        catalog cached: each sender is looked up in the cached catalog, the claims return
        the catalog's counter, and when it moved the catalog is loaded again and the sender
        on the row corrected. None elsewhere: each is claimed as it is handled."""
        cached = self._catalog.cached()
        if cached is None or not claim_reads_counters(session):
            return None
        people = [cached.member(m.platform, m.sender_id) for m in messages]
        records = [(_record(m), _id(p)) for m, p in zip(messages, people, strict=True)]
        claimed = claim_inbounds_counting(session, records, now, counter=CATALOG)
        return [
            self._claimed(session, m, p, inbound_id, generation)
            for m, p, (inbound_id, generation) in zip(messages, people, claimed, strict=True)
        ]

    def _claimed(
        self,
        session: Session,
        message: InboundMessage,
        person: Member | None,
        inbound_id: int,
        generation: int,
    ) -> Claim:
        """The claim of ``message`` as found at the catalog's ``generation``: when the
        catalog moved since ``person`` was looked up, the sender on the row is corrected."""
        catalog = self._catalog.at(session, generation)
        found = catalog.member(message.platform, message.sender_id)
        if _id(found) != _id(person):
            set_inbound_sender(session, inbound_id, _id(found))
        return catalog, found, inbound_id


def _id(person: Member | None) -> int | None:
    return None if person is None else person.id


def _record(message: InboundMessage) -> InboundRecord:
    """What the inbound log keeps of ``message``."""
    return InboundRecord(
        platform=message.platform,
        message_id=message.message_id,
        channel=message.channel,
        sender_id=message.sender_id,
        text=message.text,
        chat_id=message.chat_id,
    )
