"""Twilio's delivery reports, stored on the message they belong to, even when they come before its id."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models.db import dialect_insert
from models.tables import EarlyDeliveryReport, OutboxMessage

# A report for an id no message of ours ever gets (another app on the same Twilio account) is dropped.
KEEP_EARLY_FOR = timedelta(days=1)


def record(session: Session, provider_id: str, value: str, now: datetime) -> bool:
    """One write: onto the message with this id, or kept aside until the dispatcher stores the id."""
    result = session.execute(
        update(OutboxMessage).where(OutboxMessage.provider_id == provider_id).values(delivery_status=value)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    session.execute(
        dialect_insert(session)(EarlyDeliveryReport)
        .values(provider_id=provider_id, state=value, received_at=now)
        .on_conflict_do_update(index_elements=["provider_id"], set_={"state": value, "received_at": now})
    )
    return False


def apply_early(session: Session, provider_ids: list[str]) -> None:
    """Reports that came before these ids were stored, moved onto their messages."""
    early = session.execute(
        select(EarlyDeliveryReport.provider_id, EarlyDeliveryReport.state).where(
            EarlyDeliveryReport.provider_id.in_(provider_ids)
        )
    ).all()
    for provider_id, state in early:
        stored = update(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
        session.execute(stored.values(delivery_status=state))
    if early:
        session.execute(
            delete(EarlyDeliveryReport).where(EarlyDeliveryReport.provider_id.in_([p for p, _ in early]))
        )


def forget_old(session: Session, now: datetime) -> int:
    """Drop early reports no message claimed within a day."""
    result = session.execute(
        delete(EarlyDeliveryReport).where(EarlyDeliveryReport.received_at < now - KEEP_EARLY_FOR)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
