"""Unfinished reports: one reminder while the channel still allows it, and the draft deleted after a day.

A report someone gives up on is a lost warning, but a draft kept for ever holds a person's story for
nothing. The timers live in the database, so a restart loses neither and each fires once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, update
from sqlalchemy.orm import Session

from config.catalog import text
from handlers.messages import Reply
from handlers.outbox import BULK, enqueue
from models.tables import Conversation, Timer

logger = logging.getLogger(__name__)

REMIND = "draft_remind"
EXPIRE = "draft_expire"
KINDS = (REMIND, EXPIRE)
KEEP_FOR = timedelta(hours=24)
# The state left behind when a draft was deleted, so the person is told the next time they write.
EXPIRED = "draft_expired"
# Left in the draft's state once the reminder went: should they write again, there is a new one to set.
REMINDED = "draft_reminded"


_MOVE = (
    update(Timer)
    .where(
        Timer.conversation_id == bindparam("conversation"),
        Timer.kind.in_(KINDS),
        Timer.fired_at.is_(None),
    )
    .values(
        due_at=case((Timer.kind == REMIND, bindparam("remind_at")), else_=bindparam("expire_at")),
        created_at=bindparam("moved_at"),
    )
)


def watch(
    session: Session,
    conversation: Conversation,
    *,
    now: datetime,
    remind_after: timedelta,
    fresh: bool = False,
) -> None:
    """When a report begins, or goes on after its reminder: the reminder and the deletion count from now.

    Not on every answer: a timer that comes due after the person wrote again is set again from their
    last message (`fire`), which costs one statement a timer instead of one on every answer. `fresh`: the
    conversation was created in this transaction, so it has no timers to move.
    """
    if not fresh:
        moved = session.connection().execute(
            _MOVE,
            {
                "conversation": conversation.id,
                "remind_at": now + remind_after,
                "expire_at": now + KEEP_FOR,
                "moved_at": now,
            },
        )
        if moved.rowcount == len(KINDS):
            return
        if moved.rowcount:  # one of them fired already (the reminder): none of the old pair is kept
            forget(session, conversation, now=now)
    session.add_all(
        [
            Timer(kind=REMIND, conversation_id=conversation.id, due_at=now + remind_after, created_at=now),
            Timer(kind=EXPIRE, conversation_id=conversation.id, due_at=now + KEEP_FOR, created_at=now),
        ]
    )


_FORGET = (
    update(Timer)
    .where(
        Timer.conversation_id.in_(bindparam("conversations", expanding=True)),
        Timer.kind.in_(KINDS),
        Timer.fired_at.is_(None),
    )
    .values(fired_at=bindparam("fired_at"))
)


def forget(session: Session, conversation: Conversation, *, now: datetime) -> None:
    """The report was sent or cancelled: nothing to remind about."""
    forget_all(session, [conversation.id], now=now)


def forget_all(session: Session, conversation_ids: list[int], *, now: datetime) -> None:
    """The drafts of these conversations were sent or cancelled, in one statement (a page's reports).

    On the connection, as no loaded timer is changed here, so the page's other writes wait for its one
    flush; only when timers of these drafts were set earlier in this transaction is it flushed first,
    for them to be found.
    """
    if not conversation_ids:
        return
    if any(isinstance(p, Timer) and p.conversation_id in conversation_ids for p in session.new):
        session.flush()
    session.connection().execute(_FORGET, {"conversations": conversation_ids, "fired_at": now})


def fire(session: Session, timer: Timer, *, now: datetime, remind_after: timedelta) -> None:
    """Remind, or delete the draft, if the person has not written since the timer was set."""
    conversation = session.get(Conversation, timer.conversation_id, with_for_update=True)
    if conversation is None or conversation.flow != "report":
        return
    last = conversation.last_inbound_at
    if last is not None and last > timer.created_at:  # they wrote since: it counts from then
        wait = remind_after if timer.kind == REMIND else KEEP_FOR
        again = {"fired_at": None, "due_at": last + wait, "created_at": last}
        session.execute(update(Timer).where(Timer.id == timer.id).values(**again))
        return
    if timer.kind == REMIND:
        enqueue(
            session,
            channel=conversation.channel,
            address=conversation.address,
            reply=Reply(text(conversation.language, "report.draft.reminder")),
            now=now,
            purpose="reminder",
            priority=BULK,
        )
        conversation.state = {**(conversation.state or {}), REMINDED: True}
        logger.info("reminded conversation %s of an unfinished report", conversation.id)
    elif timer.kind == EXPIRE:
        conversation.flow = conversation.step = None
        conversation.state = {EXPIRED: True}
        logger.info("deleted the unfinished report of conversation %s after a day", conversation.id)
