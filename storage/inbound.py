"""The inbound message log: one row per (platform, message id), with the answer given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import insert_id
from storage.errors import RepeatDelivery
from storage.models import InboundMessageRow, Meta
from storage.prepared import run, run_many


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """What the log keeps of one inbound message (the dispatcher makes it from the message)."""

    platform: str
    message_id: str
    channel: str
    sender_id: str
    text: str
    chat_id: str = ""


@dataclass(frozen=True, slots=True)
class Settled:
    """The answer to store on a log row."""

    inbound_id: int
    status: str
    reply_text: str


_INBOUND: Table = InboundMessageRow.__table__  # type: ignore[assignment]


def find_inbound(session: Session, platform: str, message_id: str) -> InboundMessageRow | None:
    """The log row an earlier delivery of this message left, if any: its status and
    answer are what a repeated delivery gets."""
    return session.scalar(
        select(InboundMessageRow).where(
            InboundMessageRow.platform == platform, InboundMessageRow.message_id == message_id
        )
    )


_CLAIM = insert(_INBOUND)
# PostgreSQL logs every unique violation as an ERROR and aborts the transaction; a retry
# is routine (WeCom retries an answer slower than 5 s twice), so it is asked not to fail.
_CLAIM_QUIET = (
    postgresql.insert(_INBOUND)
    .on_conflict_do_nothing(index_elements=[_INBOUND.c.platform, _INBOUND.c.message_id])
    .returning(_INBOUND.c.id)
)
_META: Table = Meta.__table__  # type: ignore[assignment]
# The same claim, also returning a counter from ``meta`` (the catalog's): one round trip
# instead of two on PostgreSQL, where each statement is one.
_CLAIM_COUNTING = (
    postgresql.insert(_INBOUND)
    .on_conflict_do_nothing(index_elements=[_INBOUND.c.platform, _INBOUND.c.message_id])
    .returning(
        _INBOUND.c.id,
        select(_META.c.value).where(_META.c.key == bindparam("counter")).scalar_subquery(),
    )
)
_SETTLE = (
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("inbound"))
    .values(status=bindparam("status"), reply_text=bindparam("reply"))
)
_SENDER = (
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("inbound"))
    .values(person_id=bindparam("person"))
)


def claim_reads_counters(session: Session) -> bool:
    """Whether ``claim_inbounds_counting`` reads the counter in the claim's own statement
    (PostgreSQL); elsewhere it is a statement of its own, read before the claim."""
    return session.get_bind().dialect.name == "postgresql"


def claim_inbounds_counting(
    session: Session,
    messages: Sequence[tuple[InboundRecord, int | None]],
    now: datetime,
    *,
    counter: str,
) -> list[tuple[int, int]]:
    """``claim_inbound`` for each (message, sender's person id), also returning the ``meta``
    counter ``counter`` as of each claim, in one round trip (PostgreSQL only: see
    ``claim_reads_counters``). ``RepeatDelivery`` when any of them was claimed before."""
    params = [_values(m, now, person_id) | {"counter": counter} for m, person_id in messages]
    claimed: list[tuple[int, int]] = []
    for (message, _), rows in zip(
        messages, run_many(session, _CLAIM_COUNTING, params), strict=True
    ):
        row = rows.first()
        if row is None:
            raise RepeatDelivery(f"{message.platform}:{message.message_id}")
        claimed.append((int(row[0]), int(row[1] or 0)))
    return claimed


def _values(message: InboundRecord, now: datetime, person_id: int | None) -> dict[str, object]:
    return {
        "platform": message.platform,
        "message_id": message.message_id[:128],
        "channel": message.channel,
        "sender_id": message.sender_id[:64],
        "person_id": person_id,
        "chat_id": message.chat_id[:128],
        "text": message.text,
        "received_at": now,
        "status": "pending",
        "reply_text": "",
    }


def claim_inbound(
    session: Session, message: InboundRecord, now: datetime, *, person_id: int | None = None
) -> int:
    """Insert the log row first and return its id: a concurrent retry of the same message
    then meets the unique index instead of being processed twice, and ``RepeatDelivery``
    is raised. A prebuilt statement: it runs for every message."""
    values = _values(message, now, person_id)
    try:
        if session.get_bind().dialect.name == "postgresql":
            inserted = run(session, _CLAIM_QUIET, values).scalar()
            if inserted is None:
                raise RepeatDelivery(f"{message.platform}:{message.message_id}")
            return int(inserted)
        return insert_id(session, _CLAIM, values)
    except IntegrityError as exc:
        raise RepeatDelivery(f"{message.platform}:{message.message_id}") from exc


def set_inbound_sender(session: Session, inbound_id: int, person_id: int | None) -> None:
    """Correct the sender on a claimed log row (the catalog moved during the claim)."""
    run(session, _SENDER, {"inbound": inbound_id, "person": person_id})


def settle_inbound(session: Session, inbound_id: int, *, status: str, reply_text: str) -> None:
    """Store the answer given, with the handler's changes."""
    settle_inbounds(session, [Settled(inbound_id, status, reply_text)])


def settle_inbounds(session: Session, answers: Sequence[Settled]) -> None:
    """``settle_inbound`` for several log rows at once (on PostgreSQL one round trip)."""
    params = [{"inbound": a.inbound_id, "status": a.status, "reply": a.reply_text} for a in answers]
    run_many(session, _SETTLE, params)
