"""Files the bot makes for someone (a CSV export, a chart): written to MEDIA_DIR, sent with a message.

Telegram gets the file uploaded; Twilio fetches WhatsApp media by URL, so the web process serves each
file at /media/<token>, an unguessable token (32 random bytes), until it expires after KEEP_FOR.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.messages import Media
from models.tables import Document

logger = logging.getLogger(__name__)

KEEP_FOR = timedelta(hours=24)
# A fetched file no stored message claims after this long is a stray (handlers/documents.remove_strays).
STRAY_AFTER = timedelta(hours=1)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def create(
    session: Session,
    media_dir: str,
    filename: str,
    content_type: str,
    write: Callable[[BinaryIO], None],
    *,
    now: datetime,
) -> Document:
    """Write a file with `write` and record it; the caller attaches its id to a Reply."""
    token = secrets.token_urlsafe(32)
    folder = Path(media_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{token}-{_UNSAFE.sub('_', filename)}"
    with open(path, "wb") as file:
        write(file)
    document = Document(
        token=token,
        filename=filename,
        content_type=content_type,
        path=str(path.resolve()),
        size=path.stat().st_size,
        created_at=now,
        expires_at=now + KEEP_FOR,
    )
    session.add(document)
    session.flush()
    logger.info("document %s written: %s, %d bytes", document.id, content_type, document.size)
    return document


def keep_received(
    session: Session, media: Media, *, conversation_id: int, now: datetime, keep_days: int
) -> Document:
    """Record a photo, voice note or video a person sent (already in MEDIA_DIR), for the alert to carry.

    It is served by its token for as long as the reporter's details are kept, and erased with them.
    """
    path = Path(media.path or "")
    document = Document(
        token=secrets.token_urlsafe(32),
        filename=f"{media.kind}{path.suffix}",
        content_type=media.content_type,
        path=str(path.resolve()),
        size=path.stat().st_size,
        created_at=now,
        expires_at=now + timedelta(days=keep_days),
        kind=media.kind,
        conversation_id=conversation_id,
        telegram_file_id=media.telegram_file_id,
    )
    session.add(document)
    session.flush()
    logger.info("received %s kept as document %s, %d bytes", media.kind, document.id, document.size)
    return document


def forget(session: Session, documents: list[Document]) -> None:
    """Delete the files; the rows stay, so the outbox keeps its links, but open nothing any more."""
    for document in documents:
        if document.path:
            Path(document.path).unlink(missing_ok=True)
        document.path, document.telegram_file_id = "", None


def remove_strays(session: Session, media_dir: str, now: datetime) -> int:
    """Files fetched for a message that was never stored (a redelivery, a crash in between) are deleted
    after STRAY_AFTER; a file some document records is never touched here."""
    folder = Path(media_dir)
    if not folder.is_dir():
        return 0
    old = [
        path.resolve()
        for path in folder.glob("in-*")
        if now.timestamp() - path.stat().st_mtime > STRAY_AFTER.total_seconds()
    ]
    if not old:
        return 0
    recorded = set(session.scalars(select(Document.path).where(Document.path.in_([str(p) for p in old]))))
    strays = [path for path in old if str(path) not in recorded]
    for path in strays:
        path.unlink(missing_ok=True)
    return len(strays)


def remove_expired(session: Session, now: datetime) -> int:
    """Delete the files of the exports and charts past their time; their rows stay, so the outbox keeps its
    links. What people sent is deleted with their data (handlers/privacy.py), not by age."""
    removed = 0
    expired = select(Document).where(
        Document.expires_at <= now, Document.path != "", Document.conversation_id.is_(None)
    )
    for document in session.scalars(expired):
        path = Path(document.path)
        if path.is_file():
            path.unlink()
            removed += 1
        document.path = ""  # gone: not looked at again
    return removed


def served(session: Session, token: str, now: datetime) -> Document | None:
    """The document a token opens, while it has not expired and its file is there."""
    document = session.scalar(select(Document).where(Document.token == token))
    if document is None or document.expires_at <= now or not Path(document.path).is_file():
        return None
    return document
