"""Putting messages in the outbox, in the caller's transaction, so they are sent if and only if it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from handlers.messages import Reply
from models.db import unremember
from models.tables import PENDING, SENDING, OutboxMessage

# Who is waiting decides what goes first, as in RapidPro's courier (default before bulk): a person who just
# wrote, then alerts at Siaga and Awas, then other alerts and news, then messages nobody is waiting for.
REPLY = 0
URGENT = 1
ALERT = 2
BULK = 3
# Where a transaction's session keeps what the engine needs once it commits (`Session.info`): the people
# who wrote in this transaction, the messages queued to them (to hand straight to the dispatcher), and
# whether anything was queued to anyone else. Only the writers' messages are kept: a check-in round or a
# broadcast queues thousands, which must not stay in memory until the commit.
WRITERS = "writers"
QUEUED = "queued_messages"
OTHERS_QUEUED = "others_queued"


def about_incident(incident_id: int) -> tuple[str, int]:
    """A page's remembered reads of the messages about an incident, forgotten when one is queued."""
    return ("about_incident", incident_id)


def enqueue(
    session: Session,
    *,
    channel: str,
    address: str,
    reply: Reply,
    now: datetime,
    purpose: str = "reply",
    priority: int | None = None,
    report_id: int | None = None,
    incident_id: int | None = None,
    contact_id: int | None = None,
) -> OutboxMessage:
    """Queue one message; the dispatcher sends it with rate limits and retries."""
    if priority is None:
        priority = REPLY if purpose == "reply" else ALERT
    message = OutboxMessage(
        channel=channel,
        address=address,
        text=reply.text,
        choices=[[c.key, c.label] for c in reply.choices],
        purpose=purpose,
        priority=priority,
        report_id=report_id,
        incident_id=incident_id,
        contact_id=contact_id,
        document_id=reply.document_id,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    if incident_id is not None:
        unremember(session, about_incident(incident_id))
    if (channel, address) in session.info.get(WRITERS, ()):
        session.info.setdefault(QUEUED, []).append(message)
    else:
        session.info[OTHERS_QUEUED] = True
    return message


# Both run for every person who writes: built once, with parameters (see handlers/engine.py).
_HURRY = (
    update(OutboxMessage)
    .where(
        OutboxMessage.address == bindparam("to_address"),
        OutboxMessage.channel == bindparam("on_channel"),
        OutboxMessage.status == PENDING,
        OutboxMessage.priority > bindparam("lifted_to"),
    )
    .values(priority=bindparam("lifted_to"))
)
_STILL_OPEN = select(
    OutboxMessage.channel,
    OutboxMessage.address,
    OutboxMessage.id,
    (OutboxMessage.status == PENDING) & (OutboxMessage.priority > REPLY),
).where(
    OutboxMessage.address.in_(bindparam("addresses", expanding=True)),
    OutboxMessage.status.in_((PENDING, SENDING)),
    OutboxMessage.id.not_in(bindparam("own", expanding=True)),
)


def hurry(session: Session, *, channel: str, address: str, priority: int) -> None:
    """Lift a person's waiting messages to `priority`, so a reply is not stuck behind their own older ones.

    Messages to one person go out in order; without this, a pioneer's answer to "Saya tangani" would
    wait for an alert update queued to them earlier, at the back of a fan-out to hundreds.
    """
    # Core, not the ORM's bulk update: no loaded row can be among these, and it runs on every message.
    session.connection().execute(
        _HURRY, {"to_address": address, "on_channel": channel, "lifted_to": priority}
    )


@dataclass
class StillOpen:
    """A person's messages still to send or under way, and whether any of them waits behind a reply."""

    ids: list[int] = field(default_factory=list)
    behind_replies: bool = False


def still_open(
    session: Session, queued: dict[tuple[str, str], list[OutboxMessage]]
) -> dict[tuple[str, str], StillOpen]:
    """Each person's messages still to send or under way, besides those `queued` in this transaction.

    One query for everyone who wrote in a transaction, not one each.
    """
    own = [m.id for messages in queued.values() for m in messages if m.id is not None]
    found: dict[tuple[str, str], StillOpen] = {}
    rows = session.connection().execute(
        _STILL_OPEN, {"addresses": list({address for _, address in queued}), "own": own}
    )
    for channel, address, id_, below_replies in rows:
        if (channel, address) in queued:
            person = found.setdefault((channel, address), StillOpen())
            person.ids.append(id_)
            person.behind_replies = person.behind_replies or bool(below_replies)
    return found
