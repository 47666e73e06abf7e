"""A report's life in one place: its statuses, the moves allowed between them, and telling the reporter.

received -> acknowledged -> verified or found false -> being handled -> closed with a note
(../shared/DOMAIN.md). Every move is kept as a ReportEvent, so who did what and when can be shown later,
and the reporter hears of it in their language, in plain words, never by whom.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from config.catalog import text
from handlers.alerts.policy import Policy
from handlers.messages import Reply
from handlers.outbox import enqueue
from models.tables import (
    ACKNOWLEDGED,
    CLOSED,
    FALSE_REPORT,
    HANDLING,
    RECEIVED,
    VERIFIED,
    Contact,
    Conversation,
    Incident,
    Report,
    ReportEvent,
    Timer,
)

logger = logging.getLogger(__name__)

# Each status and where a report may go from it. A report found false can still be closed with a note.
MOVES: dict[str, tuple[str, ...]] = {
    RECEIVED: (ACKNOWLEDGED, CLOSED),  # a coordinator may close what nobody took (/tutup)
    ACKNOWLEDGED: (VERIFIED, FALSE_REPORT, HANDLING, CLOSED),
    VERIFIED: (HANDLING, CLOSED),
    HANDLING: (CLOSED,),
    FALSE_REPORT: (CLOSED,),
    CLOSED: (),
}
OPEN = frozenset(status for status, onward in MOVES.items() if onward)
# A status that ends the follow-up: nothing more is asked of the holder.
FINAL = frozenset({CLOSED, FALSE_REPORT})
# The timer that asks the holder of an open report how it goes (handlers/pioneers/tasks.py fires it).
FOLLOWUP = "followup"


def tell_reporter(session: Session, report: Report, key: str, *, now: datetime) -> None:
    """The reporter hears of a change in their language: what happened, never who did it or their note."""
    reporter = session.get(Conversation, report.conversation_id)
    if reporter is not None and reporter.erased_at is None:  # an erased reporter cannot be reached
        enqueue(
            session,
            channel=reporter.channel,
            address=reporter.address,
            reply=Reply(text(reporter.language, key, code=report.code)),
            now=now,
            purpose="status",
            report_id=report.id,
        )


def stop_timers(session: Session, incident: Incident, now: datetime) -> None:
    """Nothing more is due for an incident closed: no escalation, no follow-up."""
    session.execute(
        update(Timer).where(Timer.incident_id == incident.id, Timer.fired_at.is_(None)).values(fired_at=now)
    )


def may_move(current: str, to: str) -> bool:
    """Whether a report in `current` may go to `to`."""
    return to in MOVES.get(current, ())


def move(
    session: Session,
    report: Report,
    to: str,
    *,
    now: datetime,
    note: str | None = None,
    contact: Contact | None = None,
) -> bool:
    """Move a report on, record it, and tell the reporter; False when the move is not allowed."""
    if not may_move(report.status, to):
        return False
    report.status, report.status_changed_at = to, now
    session.add(
        ReportEvent(
            report_id=report.id, status=to, note=note, contact_id=contact.id if contact else None, at=now
        )
    )
    tell_reporter(session, report, f"report_update.{to}", now=now)
    logger.info("report %s moved to %s", report.id, to)
    return True


def schedule_followup(session: Session, incident: Incident, now: datetime, policy: Policy) -> None:
    """The holder will be asked how it goes after FOLLOWUP_HOURS; any earlier question is replaced."""
    session.execute(
        update(Timer)
        .where(Timer.incident_id == incident.id, Timer.kind == FOLLOWUP, Timer.fired_at.is_(None))
        .values(fired_at=now)
    )
    due = now + timedelta(hours=policy.followup_hours)
    session.add(Timer(kind=FOLLOWUP, incident_id=incident.id, due_at=due, created_at=now))
