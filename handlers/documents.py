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

from models.tables import Document

logger = logging.getLogger(__name__)

KEEP_FOR = timedelta(hours=24)
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


def remove_expired(session: Session, now: datetime) -> int:
    """Delete the files of expired documents from disk; their rows stay, so the outbox keeps its links."""
    removed = 0
    for document in session.scalars(select(Document).where(Document.expires_at <= now, Document.path != "")):
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
