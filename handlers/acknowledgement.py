"""A contact answers an alert: the "Saya tangani" button on Telegram, or TANGANI KODE on WhatsApp."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from handlers.alerts import incidents
from handlers.codes import normalise_code
from handlers.conversation import Turn

if TYPE_CHECKING:
    from handlers.commands.command import Command

_TYPED = re.compile(r"^\s*/?(?:tangani|saya\s+tangani)\b\s*(.*)$", re.IGNORECASE)


def requested_code(turn: Turn) -> str | None:
    """The report code of an acknowledgement, or None when the message is not one."""
    if turn.inbound.choice and turn.inbound.choice.startswith("ack:"):
        return turn.inbound.choice.split(":", 1)[1]
    typed = _TYPED.match(turn.inbound.text or "")
    if typed:
        return typed.group(1).strip()
    return None


def run(turn: Turn, command: Command) -> None:
    """TANGANI KODE from the command table."""
    take(turn, command.argument)


def handle(turn: Turn) -> bool:
    """Take the acknowledgement if this message is one; False lets the message go on to the flows."""
    raw = requested_code(turn)
    if raw is None:
        return False
    pressed = bool(turn.inbound.choice)
    if turn.contact is None and not pressed:
        # Typed by someone who is not a contact: the command table answers it as one that does not exist.
        return False
    take(turn, raw)
    return True


def take(turn: Turn, raw: str) -> None:
    """The first contact to take an incident holds it; the others are told who does."""
    contact = turn.contact
    if contact is None:
        turn.hint("alert.ack.not_contact")
        return
    code = normalise_code(raw)
    if code is None:
        turn.hint("alert.ack.how")
        return
    result = incidents.acknowledge(turn.session, contact, code, now=turn.now, policy=turn.policy)
    if result is None:
        turn.hint("status.not_found", code=code)
    elif result.outcome == "taken_now":
        turn.hint("alert.ack.taken_now", code=code)
    elif result.outcome == "yours":
        turn.hint("alert.ack.yours", code=code)
    else:
        turn.hint("alert.ack.taken", code=code, holder=result.holder or "-")
