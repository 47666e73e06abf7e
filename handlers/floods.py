"""Per-sender limits, so one sender's flood costs others nothing: messages a minute and reports an hour."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from models.tables import InboundMessage, Report

# Counted on every message: built once (see handlers/engine.py).
_LAST_MINUTE = select(func.count()).where(
    InboundMessage.conversation_id == bindparam("conversation_id"),
    InboundMessage.received_at > bindparam("since"),
)


def messages_last_minute(session: Session, conversation_id: int, now: datetime) -> int:
    """Messages this sender sent in the last minute, this one included."""
    since = now - timedelta(minutes=1)
    counted = session.connection().scalar(_LAST_MINUTE, {"conversation_id": conversation_id, "since": since})
    return counted or 0


def reports_last_hour(session: Session, conversation_id: int, now: datetime) -> int:
    """Reports this sender sent in the last hour."""
    return (
        session.scalar(
            select(func.count()).where(
                Report.conversation_id == conversation_id, Report.created_at > now - timedelta(hours=1)
            )
        )
        or 0
    )
