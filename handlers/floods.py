"""Per-sender limits, so one sender's flood costs others nothing: messages a minute and reports an hour."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from models.db import flushing_only
from models.tables import Conversation, InboundMessage, Report

# A sender's messages since `since`, beside their conversation in the one query that reads it (see
# handlers/engine.py): counted on every message, so no statement of its own.
EARLIER_MESSAGES = (
    select(func.count())
    .where(InboundMessage.conversation_id == Conversation.id, InboundMessage.received_at > bindparam("since"))
    .correlate(Conversation)
    .scalar_subquery()
)


def since(now: datetime) -> datetime:
    """Where the last minute begins."""
    return now - timedelta(minutes=1)


# Run for every report sent: built once (see handlers/engine.py).
_REPORTS_SINCE = select(func.count()).where(
    Report.conversation_id == bindparam("conversation_id"), Report.created_at > bindparam("since")
)


def reports_last_hour(session: Session, conversation_id: int, now: datetime) -> int:
    """Reports this sender sent in the last hour."""
    values = {"conversation_id": conversation_id, "since": now - timedelta(hours=1)}
    with flushing_only(session, Report):  # then on the connection: no object is loaded
        return session.connection().execute(_REPORTS_SINCE, values).scalar() or 0
