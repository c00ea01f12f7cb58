"""A published venue's ranking picture, drawn by the outbox right before it goes out.

公布 only queues the picture push (``handlers.publishing``) with the path it is to be
drawn at; drawing a large venue takes long, and the message's transaction is where every
other message waits on SQLite. The outbox's last look drops the push if the result was
withdrawn meanwhile (撤销公布), and its sending thread draws the file once, from a reading
session (outside the writers' queue), before the first attempt. A retry finds the file.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.desk.ranking_image import table_png
from bot.errors import PermanentDelivery
from handlers.messages import OutboundMessage
from handlers.standings import venue_table
from storage.db import reading
from storage.outbox_intent import PICTURE, Intent
from storage.people import venue_by_key

_DRAWING = threading.Lock()
"""Pictures are drawn one at a time in a process: a venue's WeCom groups' pushes share one
path and go out on lanes side by side; the first draws, the others find the file."""


def refresh_picture(
    session: Session, intent: Intent, message: OutboundMessage
) -> OutboundMessage | None:
    """Drop the picture of a venue that is gone or no longer published."""
    if intent.kind != PICTURE or not intent.subject:
        return message
    venue = venue_by_key(session, intent.subject)
    if venue is None or venue.published_at is None:
        return None
    return message


def draw_picture(
    factory: sessionmaker[Session], intent: Intent, message: OutboundMessage
) -> OutboundMessage:
    """``message`` with its picture drawn at its ``image_path`` under its ``title`` (once:
    a file already there is kept)."""
    if intent.kind != PICTURE or not intent.subject or not message.image_path:
        return message
    path = Path(message.image_path)
    with _DRAWING:
        if not path.exists():
            _draw(factory, intent.subject, message.title, path)
    return message


def _draw(factory: sessionmaker[Session], venue_key: str, heading: str, path: Path) -> None:
    with reading(factory) as session:
        venue = venue_by_key(session, venue_key)
        table = venue_table(session, venue) if venue is not None else None
    if table is None:  # venues are deactivated, never deleted: the last look saw it
        raise PermanentDelivery(f"picture: venue {venue_key} is gone")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of its own (another instance may draw the same picture), renamed
    # into place whole: a reader never sees half a file.
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(table_png(table, heading))
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
