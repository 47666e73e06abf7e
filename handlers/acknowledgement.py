"""A contact answers an alert: the "Saya tangani" button on Telegram, or TANGANI KODE on WhatsApp."""

from __future__ import annotations

import re

from sqlalchemy import select

from handlers.alerts import incidents
from handlers.codes import normalise_code
from handlers.conversation import Turn
from models.tables import Contact

_TYPED = re.compile(r"^\s*/?(?:tangani|saya\s+tangani)\b\s*(.*)$", re.IGNORECASE)


def contact_of(turn: Turn) -> Contact | None:
    """The registered contact writing, by the channel address they wrote from."""
    column = Contact.address_on(turn.inbound.channel)
    if column is None:
        return None
    return turn.session.scalar(
        select(Contact).where(column == turn.inbound.address, Contact.active.is_(True))
    )


def requested_code(turn: Turn) -> str | None:
    """The report code of an acknowledgement, or None when the message is not one."""
    if turn.inbound.choice and turn.inbound.choice.startswith("ack:"):
        return turn.inbound.choice.split(":", 1)[1]
    typed = _TYPED.match(turn.inbound.text or "")
    if typed:
        return typed.group(1).strip()
    return None


def handle(turn: Turn) -> bool:
    """Take the acknowledgement if this message is one; False lets the message go on to the flows."""
    raw = requested_code(turn)
    if raw is None:
        return False
    contact = contact_of(turn)
    if contact is None:
        turn.hint("alert.ack.not_contact")
        return True
    code = normalise_code(raw)
    if code is None:
        turn.hint("alert.ack.how")
        return True
    result = incidents.acknowledge(turn.session, contact, code, now=turn.now)
    if result is None:
        turn.hint("status.not_found", code=code)
    elif result.outcome == "taken_now":
        turn.hint("alert.ack.taken_now", code=code)
    elif result.outcome == "yours":
        turn.hint("alert.ack.yours", code=code)
    else:
        turn.hint("alert.ack.taken", code=code, holder=result.holder or "-")
    return True
