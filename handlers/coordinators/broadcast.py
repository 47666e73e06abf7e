"""/siaran WILAYAH PESAN: a coordinator's message to the region's pioneers (/siaran+: forum members too).

It goes through the outbox at bulk priority, behind every reply and alert. A few minutes later the
coordinator gets what became of it: sent, delivered, failed, and unreachable from the start.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.catalog import text
from handlers.alerts.delivery import language_of, languages_of, to_contact
from handlers.alerts.policy import Policy
from handlers.alerts.routing import by_chunk
from handlers.commands.arguments import coordinators_region
from handlers.conversation import Turn
from handlers.coordinators.scope import inside
from handlers.messages import Reply
from handlers.outbox import ALERT, BULK
from models.tables import FAILED, FKDM, PELOPOR, SENT, Broadcast, Contact, OutboxMessage, Timer

if TYPE_CHECKING:
    from handlers.commands.command import Command

logger = logging.getLogger(__name__)

SUMMARY = "broadcast_summary"
SUMMARY_AFTER = timedelta(minutes=5)
# A broadcast still going out after this long is summed up as it stands.
LONGEST = timedelta(hours=1)
MAX_TEXT = 1000


def run_broadcast(turn: Turn, command: Command) -> None:
    """To the pioneers of the region."""
    _broadcast(turn, command, with_forum=False)


def run_broadcast_all(turn: Turn, command: Command) -> None:
    """To the pioneers and the forum members of the region."""
    _broadcast(turn, command, with_forum=True)


def _broadcast(turn: Turn, command: Command, *, with_forum: bool) -> None:
    words = command.argument.split()
    if len(words) < 2:
        turn.hint("coord.broadcast.how")
        return
    region = coordinators_region(turn, words[0])
    if region is None:
        return
    message = " ".join(words[1:])[:MAX_TEXT]
    coordinator = turn.contact
    assert coordinator is not None
    roles = (PELOPOR, FKDM) if with_forum else (PELOPOR,)
    broadcast = Broadcast(
        contact_id=coordinator.id,
        region_code=region.code,
        with_forum=with_forum,
        text=message,
        recipients=0,
        created_at=turn.now,
    )
    turn.session.add(broadcast)
    turn.session.flush()
    recipients = select(Contact).where(
        Contact.active.is_(True), Contact.role.in_(roles), inside(Contact.region_code, region.code)
    )
    # A chunk of contacts at a time, each written before the next is read: a province's 100,000 pioneers
    # and their messages held at once took 250 MB (bench/memory.py).
    for contacts in by_chunk(turn.session, recipients):
        languages = languages_of(turn.session, contacts)
        for contact in contacts:
            language = languages.get(contact.id, "id")
            body = text(language, "coord.broadcast.message", name=coordinator.name, text=message)
            queued = to_contact(
                turn.session,
                contact,
                Reply(body),
                now=turn.now,
                policy=turn.policy,
                purpose="broadcast",
                priority=BULK,
            )
            queued.broadcast_id = broadcast.id
        broadcast.recipients += len(contacts)
        turn.session.flush()
    turn.session.add(
        Timer(kind=SUMMARY, broadcast_id=broadcast.id, due_at=turn.now + SUMMARY_AFTER, created_at=turn.now)
    )
    key = "coord.broadcast.queued_all" if with_forum else "coord.broadcast.queued"
    turn.hint(key, count=broadcast.recipients, place=region.path)
    logger.info("broadcast %s queued to %d contacts", broadcast.id, broadcast.recipients)


def fire(session: Session, timer: Timer, *, now: datetime, policy: Policy) -> None:
    """Sum the broadcast up for its coordinator, or look again later while it is still going out."""
    broadcast = session.get(Broadcast, timer.broadcast_id)
    if broadcast is None or broadcast.summarized_at is not None:
        return
    # Counted by the database: a province's broadcast is 100,000 messages, too many to load to count.
    counted = session.execute(
        select(OutboxMessage.status, OutboxMessage.delivery_status, OutboxMessage.attempts, func.count())
        .where(OutboxMessage.broadcast_id == broadcast.id)
        .group_by(OutboxMessage.status, OutboxMessage.delivery_status, OutboxMessage.attempts)
    ).all()
    waiting = sum(n for status, _, _, n in counted if status not in (SENT, FAILED))
    if waiting and now - broadcast.created_at < LONGEST:
        session.add(
            Timer(kind=SUMMARY, broadcast_id=broadcast.id, due_at=now + SUMMARY_AFTER, created_at=now)
        )
        return
    broadcast.summarized_at = now
    coordinator = session.get(Contact, broadcast.contact_id)
    if coordinator is None:
        return
    counts = {
        "sent": sum(n for status, _, _, n in counted if status == SENT),
        "delivered": sum(n for _, delivery, _, n in counted if delivery in ("delivered", "read")),
        "failed": sum(n for status, _, attempts, n in counted if status == FAILED and attempts > 0),
        "unreachable": sum(n for status, _, attempts, n in counted if status == FAILED and attempts == 0),
        "waiting": waiting,
    }
    body = text(
        language_of(session, coordinator), "coord.broadcast.summary", total=broadcast.recipients, **counts
    )
    to_contact(session, coordinator, Reply(body), now=now, policy=policy, purpose="broadcast", priority=ALERT)
