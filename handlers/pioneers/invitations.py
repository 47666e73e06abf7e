"""Joining by invitation: /undang makes a code, /daftar KODE makes its sender a contact, /hubungkan links a
second channel, /keluar and /nonaktifkan end it.

A code is single-use, expires after INVITE_TTL_HOURS, and is compared without case or hyphen. Wrong
guesses from one address are throttled, so a code cannot be found by trying.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers import places
from handlers.commands.arguments import coordinators_region
from handlers.conversation import END, FINISH, STAY, Flow, Step, Turn, choices_of, start_flow, value_of
from handlers.localtime import local_time
from handlers.matching import normalise
from handlers.messages import Choice
from models.tables import Contact, Invitation

if TYPE_CHECKING:
    from handlers.commands.command import Command

logger = logging.getLogger(__name__)

# Letters and digits that cannot be mistaken for one another when read aloud or typed from a photo.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
LENGTH = 8
_CODE = re.compile(r"[A-Z0-9]{6,16}")
# After this many wrong codes in a row, an address must wait before trying again.
MOST_WRONG = 5
WAIT_AFTER_WRONG = timedelta(hours=1)
MAX_NAME = 120
# What a coordinator may write for a role, and the role it means.
ROLE_WORDS = {
    "pelopor": "pelopor",
    "pordam": "pelopor",
    "pelopor perdamaian": "pelopor",
    "fkdm": "fkdm",
    "koordinator": "koordinator",
    "pioneer": "pelopor",
    "coordinator": "koordinator",
}


def shown(code: str) -> str:
    """A stored code as people read it: 'ACDE-FGHJ'."""
    return f"{code[:4]}-{code[4:]}" if len(code) == LENGTH else code


def normalise_invite(text: str) -> str | None:
    """The code someone typed, in capitals without hyphens or spaces, or None if it cannot be one."""
    code = re.sub(r"[\s\-_.]", "", text.strip().upper())
    return code if _CODE.fullmatch(code) else None


def create(
    session: Session,
    *,
    role: str,
    region_code: str,
    now: datetime,
    ttl_hours: int,
    created_by: Contact | None = None,
    contact: Contact | None = None,
) -> Invitation:
    """A fresh invitation; `contact` makes it a link code for that contact's other channel."""
    invitation = Invitation(
        code="".join(secrets.choice(ALPHABET) for _ in range(LENGTH)),
        role=role,
        region_code=region_code,
        created_by=created_by.id if created_by else None,
        contact_id=contact.id if contact else None,
        created_at=now,
        expires_at=now + timedelta(hours=ttl_hours),
    )
    session.add(invitation)
    session.flush()
    logger.info("invitation %s created for role %s", invitation.id, role)
    return invitation


# /undang PERAN WILAYAH -------------------------------------------------------------------------------------


def run_invite(turn: Turn, command: Command) -> None:
    """A coordinator invites a pioneer, forum member or coordinator within their own region."""
    coordinator = turn.contact
    assert coordinator is not None
    words = command.argument.split()
    role = None
    for length in (2, 1):
        if len(words) >= length and (role := ROLE_WORDS.get(normalise(" ".join(words[:length])))):
            words = words[length:]
            break
    if role is None or not words:
        turn.hint("invite.how")
        return
    region = coordinators_region(turn, " ".join(words))
    if region is None:
        return
    invitation = create(
        turn.session,
        role=role,
        region_code=region.code,
        now=turn.now,
        ttl_hours=turn.policy.invite_ttl_hours,
        created_by=coordinator,
    )
    values = {
        "code": shown(invitation.code),
        "role": turn.t(f"role.{role}"),
        "place": region.path,
        "until": local_time(invitation.expires_at, region.code),
    }
    turn.send(turn.t("invite.created", **values))
    turn.send(turn.t("invite.forward", **values) + _where_to_send(turn))


def _where_to_send(turn: Turn) -> str:
    number = turn.policy.whatsapp_number
    return "\n" + turn.t("invite.whatsapp_number", number=number) if number else ""


# /daftar KODE ----------------------------------------------------------------------------------------------


def _throttled(turn: Turn) -> bool:
    conversation = turn.conversation
    last = conversation.wrong_code_at
    return conversation.wrong_codes >= MOST_WRONG and last is not None and turn.now - last < WAIT_AFTER_WRONG


def _wrong(turn: Turn, key: str) -> None:
    conversation = turn.conversation
    last = conversation.wrong_code_at
    if last is not None and turn.now - last >= WAIT_AFTER_WRONG:
        conversation.wrong_codes = 0
    conversation.wrong_codes += 1
    conversation.wrong_code_at = turn.now
    logger.info(
        "wrong invitation code from a %s address (%d in a row)",
        turn.inbound.channel,
        conversation.wrong_codes,
    )
    turn.hint(key)


def usable(turn: Turn, raw: str) -> Invitation | None:
    """The invitation a code opens, locked; None (and the sender told why) when it opens nothing."""
    if _throttled(turn):
        turn.hint("join.wait")
        return None
    code = normalise_invite(raw)
    invitation = (
        turn.session.scalars(select(Invitation).where(Invitation.code == code).with_for_update()).first()
        if code
        else None
    )
    if invitation is None:
        _wrong(turn, "join.bad_code")
    elif invitation.used_at is not None:
        _wrong(turn, "join.used")
    elif invitation.expires_at <= turn.now:
        _wrong(turn, "join.expired")
    else:
        turn.conversation.wrong_codes = 0
        return invitation
    return None


def run_join(turn: Turn, command: Command) -> None:
    """Someone sends an invitation code: a link code joins this channel, any other begins registering."""
    if not command.argument:
        start_flow(turn, JOIN_FLOW)
        return
    invitation = _take_code(turn, command.argument)
    if invitation is not None:
        turn.conversation.flow, turn.conversation.step = JOIN_FLOW.name, "name"
        turn.state = {"invitation": invitation.id}
        JOIN_FLOW.step("name").ask(turn)


def _take_code(turn: Turn, raw: str) -> Invitation | None:
    """The invitation to register with; None when the code opened nothing, or linked a channel at once."""
    invitation = usable(turn, raw)
    if invitation is None:
        return None
    if Contact.address_on(turn.inbound.channel) is None:
        turn.hint("join.not_here")
        return None
    if turn.contact is not None:
        turn.hint("join.already")
        return None
    if invitation.contact_id is not None:
        _link(turn, invitation)
        return None
    return invitation


def _link(turn: Turn, invitation: Invitation) -> None:
    """This channel joins the contact who asked for the code with /hubungkan on their other channel."""
    contact = turn.session.get(Contact, invitation.contact_id)
    if contact is None or not contact.active:
        turn.hint("join.bad_code")
        return
    setattr(contact, Contact.address_on(turn.inbound.channel).key, turn.inbound.address)  # type: ignore[union-attr]
    contact.unreachable_reason = None
    invitation.used_at, invitation.used_by = turn.now, contact.id
    turn.hint("join.linked", name=contact.name)
    logger.info("contact %s linked a %s address", contact.id, turn.inbound.channel)


def ask_code(turn: Turn) -> None:
    """Asks for the invitation code."""
    turn.say("join.ask_code")


def take_code(turn: Turn) -> str | None:
    """Checks the code; a good one moves on to the name."""
    invitation = _take_code(turn, turn.answer_text)
    if invitation is not None:
        turn.state["invitation"] = invitation.id
        return "name"
    if turn.contact is not None or _throttled(turn):
        return END  # linked now, already a contact, or made to wait: nothing more to ask
    return STAY


def ask_name(turn: Turn) -> None:
    """Asks the name the coordinators will see."""
    invitation = turn.session.get(Invitation, turn.state["invitation"])
    turn.say("join.ask_name", role=turn.t(f"role.{invitation.role}" if invitation else "role.pelopor"))


def take_name(turn: Turn) -> str | None:
    """Keeps the name, then asks to confirm the region."""
    name = " ".join(turn.answer_text.split())
    if not name or len(name) > MAX_NAME or name.startswith(("=", "+", "-", "@")):
        turn.hint("join.bad_name", limit=MAX_NAME)
        return STAY
    turn.state["name"] = name
    return "region"


def _yes_no(turn: Turn) -> list[Choice]:
    return choices_of(turn, "yes", ("yes", "no"), "common.yes_no")


def ask_region(turn: Turn) -> None:
    """Reads back the region of the invitation, to be confirmed."""
    invitation = turn.session.get(Invitation, turn.state["invitation"])
    found = places.place(invitation.region_code) if invitation else None
    turn.say("join.confirm_region", _yes_no(turn), place=found.path if found else "-")


def take_region(turn: Turn) -> str | None:
    """Yes makes the contact; no ends here, with whom to ask for the right code."""
    choice = turn.chosen(_yes_no(turn))
    if choice is None:
        turn.hint("common.pick_option")
        return STAY
    if value_of(choice) == "no":
        turn.hint("join.wrong_region")
        return END
    return "same_person" if _same_person(turn) is not None else FINISH


def _same_person(turn: Turn) -> Contact | None:
    """A contact on the other channel with this name, role and region: perhaps the sender, joining twice."""
    invitation = turn.session.get(Invitation, turn.state["invitation"])
    column = Contact.address_on(turn.inbound.channel)
    if invitation is None or column is None:
        return None
    return turn.session.scalars(
        select(Contact).where(
            Contact.active.is_(True),
            func.lower(Contact.name) == turn.state["name"].lower(),
            Contact.role == invitation.role,
            Contact.region_code == invitation.region_code,
            column.is_(None),
        )
    ).first()


def _same_person_choices(turn: Turn) -> list[Choice]:
    return choices_of(turn, "same", ("yes", "no"), "join.same_person")


def ask_same_person(turn: Turn) -> None:
    """The coordinator gave this person a second code: is it to add this channel to their first?"""
    other = "WhatsApp" if turn.inbound.channel == "telegram" else "Telegram"
    turn.say("join.same_person.ask", _same_person_choices(turn), name=turn.state["name"], other=other)


def take_same_person(turn: Turn) -> str | None:
    """Yes links this channel to the contact already there; no makes a new contact."""
    choice = turn.chosen(_same_person_choices(turn))
    if choice is None:
        turn.hint("common.pick_option")
        return STAY
    turn.state["link"] = value_of(choice) == "yes"
    return FINISH


def finish_join(turn: Turn) -> None:
    """Makes the sender a contact with the invitation's role and region on the channel they used."""
    invitation = turn.session.scalars(
        select(Invitation).where(Invitation.id == turn.state["invitation"]).with_for_update()
    ).first()
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= turn.now:
        turn.hint("join.used")
        return
    column = Contact.address_on(turn.inbound.channel)
    existing = _same_person(turn) if turn.state.get("link") else None
    if existing is not None:
        setattr(existing, column.key, turn.inbound.address)  # type: ignore[union-attr]
        invitation.used_at, invitation.used_by = turn.now, existing.id
        turn.known_contact(existing)
        turn.hint("join.linked", name=existing.name)
        logger.info(
            "contact %s linked a %s address with a second invitation", existing.id, turn.inbound.channel
        )
        return
    contact = Contact(
        name=turn.state["name"],
        role=invitation.role,
        region_code=invitation.region_code,
        created_at=turn.now,
        updated_at=turn.now,
    )
    setattr(contact, column.key, turn.inbound.address)  # type: ignore[union-attr]
    turn.session.add(contact)
    turn.session.flush()
    invitation.used_at, invitation.used_by = turn.now, contact.id
    turn.known_contact(contact)
    found = places.place(invitation.region_code)
    turn.say(
        "join.welcome",
        name=contact.name,
        role=turn.t(f"role.{contact.role}"),
        place=found.path if found else contact.region_code,
    )
    logger.info("contact %s joined as %s by invitation %s", contact.id, contact.role, invitation.id)


JOIN_FLOW = Flow(
    name="join",
    first="code",
    finish=finish_join,
    steps={
        "code": Step("code", ask_code, take_code, "join.help"),
        "name": Step("name", ask_name, take_name, "join.help"),
        "region": Step("region", ask_region, take_region, "join.help"),
        "same_person": Step("same_person", ask_same_person, take_same_person, "join.help"),
    },
)


# /hubungkan, /keluar, /nonaktifkan --------------------------------------------------------------------------


def run_link(turn: Turn, command: Command) -> None:
    """A contact asks for a code that joins their other channel to them."""
    contact = turn.contact
    assert contact is not None
    invitation = create(
        turn.session,
        role=contact.role,
        region_code=contact.region_code,
        now=turn.now,
        ttl_hours=turn.policy.invite_ttl_hours,
        contact=contact,
    )
    other = "WhatsApp" if turn.inbound.channel == "telegram" else "Telegram"
    turn.say(
        "link.created",
        code=shown(invitation.code),
        other=other,
        until=local_time(invitation.expires_at, contact.region_code),
    )


def run_leave(turn: Turn, command: Command) -> None:
    """A contact leaves: no more alerts or check-ins; a coordinator can invite them again."""
    contact = turn.contact
    assert contact is not None
    contact.active = False
    turn.say("leave.done")
    logger.info("contact %s left", contact.id)


def run_deactivate(turn: Turn, command: Command) -> None:
    """A coordinator deactivates a contact in their region, by name."""
    coordinator = turn.contact
    assert coordinator is not None
    wanted = " ".join(command.argument.split())
    if not wanted:
        turn.hint("deactivate.how")
        return
    found = [
        c
        for c in turn.session.scalars(
            select(Contact).where(Contact.active.is_(True), func.lower(Contact.name) == wanted.lower())
        )
        if places.contains(coordinator.region_code, c.region_code) and c.id != coordinator.id
    ]
    if len(found) != 1:
        turn.hint("deactivate.none" if not found else "deactivate.several", name=wanted, count=len(found))
        return
    found[0].active = False
    turn.hint("deactivate.done", name=found[0].name, role=turn.t(f"role.{found[0].role}"))
    logger.info("contact %s deactivated by coordinator %s", found[0].id, coordinator.id)
