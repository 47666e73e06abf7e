"""Putting messages in the outbox, in the caller's transaction, so they are sent if and only if it commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handlers.messages import Reply
from models.tables import OutboxMessage


def enqueue(
    session: Session,
    *,
    channel: str,
    address: str,
    reply: Reply,
    now: datetime,
    purpose: str = "reply",
    report_id: int | None = None,
    incident_id: int | None = None,
    contact_id: int | None = None,
) -> OutboxMessage:
    """Queue one message; the dispatcher sends it with rate limits and retries."""
    message = OutboxMessage(
        channel=channel,
        address=address,
        text=reply.text,
        choices=[[c.key, c.label] for c in reply.choices],
        purpose=purpose,
        report_id=report_id,
        incident_id=incident_id,
        contact_id=contact_id,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message
