"""A person's data under UU PDP: /dataku shows what is kept, /hapusdata erases it, RETENTION_DAYS ages it out.

What identifies a person is their conversation (channel and address: a phone number or a chat id), the
drafts and our copies of the replies sent to them, and for contacts their name and numbers. Erasing
replaces the address, empties the draft, deletes the copies, and leaves the person's reports anonymous:
the story as it was masked for the alert, the place to about a kilometre, no photo, no way to reach
them. The reports stay because the officers still need to know what happened where; the reporter is told
so, in those words.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from handlers import documents
from handlers.alerts.wording import masked
from handlers.commands.command import Command
from handlers.conversation import END, FINISH, STAY, Flow, Step, Turn, choices_of, start_flow
from handlers.lifecycle import FINAL
from handlers.localtime import local_time
from handlers.messages import Reply
from handlers.outbox import enqueue
from models.tables import SENDING, Contact, Conversation, Document, OutboxMessage, Report, Timer

logger = logging.getLogger(__name__)

# Decimal places a kept report's shared location is rounded to: about 1.1 km, a neighbourhood, not a house.
KEPT_LOCATION_DECIMALS = 2
ERASED_NAME = "(dihapus)"


def erased_address(conversation: Conversation) -> str:
    """What stands in for an erased address: unique, and no channel can ever send to it."""
    return f"erased:{conversation.id}"


def masked_address(address: str) -> str:
    """'+6281234567890' -> '+62812*****890', a chat id '734019283' -> '73****283': enough for the person to
    recognise, never the whole of it."""
    if len(address) <= 6:
        return "*" * len(address)
    shown = min(6, len(address) - 7)  # at least four characters hidden
    return address[:shown] + "*" * (len(address) - shown - 3) + address[-3:]


# /dataku ---------------------------------------------------------------------------------------------------


def run_my_data(turn: Turn, command: Command) -> None:
    """Everything stored about the sender, in their language."""
    conversation = turn.conversation
    reports = turn.session.scalars(
        select(Report).where(Report.conversation_id == conversation.id).order_by(Report.id)
    ).all()
    replies = turn.session.scalar(
        select(func.count()).where(
            OutboxMessage.channel == conversation.channel, OutboxMessage.address == conversation.address
        )
    )
    listed = "\n".join(
        turn.t(
            "privacy.mine.report",
            code=report.code,
            status=turn.t(f"report_status.{report.status}"),
            when=local_time(report.created_at, report.region_code),
            contact=turn.t("privacy.mine.may_contact" if report.may_contact else "privacy.mine.anonymous"),
        )
        for report in reports
    )
    contact = turn.contact
    turn.say(
        "privacy.mine.text",
        channel=turn.t(f"privacy.channel.{conversation.channel}"),
        address=masked_address(conversation.address),
        language_name=turn.t(f"language.name.{conversation.language}"),
        since=local_time(conversation.created_at, ""),
        reports=listed or turn.t("privacy.mine.no_reports"),
        draft=turn.t("privacy.mine.draft" if conversation.flow else "privacy.mine.no_draft"),
        replies=replies or 0,
        role=turn.t("privacy.mine.contact", name=contact.name, role=turn.t(f"role.{contact.role}"))
        if contact is not None
        else "",
        days=turn.policy.retention_days,
    )


# /hapusdata ------------------------------------------------------------------------------------------------


def run_erase(turn: Turn, command: Command) -> None:
    """Nothing is erased before the person says yes to what will go and what will stay."""
    start_flow(turn, ERASE_FLOW)


def _erase_choices(turn: Turn) -> list:  # type: ignore[type-arg]
    return choices_of(turn, "erase", ("yes", "no"), "privacy.erase.choice")


def ask_erase(turn: Turn) -> None:
    """Says what will be erased and what kept, then asks."""
    kept = turn.session.scalar(select(func.count()).where(Report.conversation_id == turn.conversation.id))
    warning = turn.t("privacy.erase.contact_warning") if turn.contact is not None else ""
    turn.say("privacy.erase.ask", _erase_choices(turn), reports=kept or 0, warning=warning)


def take_erase(turn: Turn) -> str | None:
    """Yes erases at once and says what was kept; no keeps everything."""
    choice = turn.chosen(_erase_choices(turn))  # everyday words for each: config/lexicon
    if choice is None:
        turn.hint("common.pick_option")
        return STAY
    if choice.key == "erase:no":
        turn.say("privacy.erase.kept")
        return END
    channel, address = turn.inbound.channel, turn.inbound.address
    kept = turn.session.scalar(select(func.count()).where(Report.conversation_id == turn.conversation.id))
    # Worded before the erasure forgets the person's language.
    done = Reply(turn.t("privacy.erase.done", reports=kept or 0))
    erase(turn.session, turn.conversation, turn.now, contact=turn.contact)
    turn.state = {}
    # The confirmation goes to the address that was just erased, so it is queued here by hand; every
    # earlier copy is gone, and this one ages out with RETENTION_DAYS.
    enqueue(turn.session, channel=channel, address=address, reply=done, now=turn.now)
    logger.info("a person's data erased on request; %d reports kept anonymous", kept or 0)
    return FINISH


ERASE_FLOW = Flow(
    name="erase",
    first="confirm",
    finish=lambda turn: None,
    steps={"confirm": Step("confirm", ask_erase, take_erase, "privacy.erase.help")},
)


# Erasing ---------------------------------------------------------------------------------------------------


def erase(
    session: Session, conversation: Conversation, now: datetime, *, contact: Contact | None = None
) -> int:
    """Erase what identifies this person; returns how many of their reports stay, anonymous."""
    channel, address = conversation.channel, conversation.address
    reports = session.scalars(select(Report).where(Report.conversation_id == conversation.id)).all()
    for report in reports:
        report.description = report.masked_description or masked(report.description)
        report.masked_description = report.description
        report.photo_ref, report.media = None, []
        report.anonymous, report.may_contact = True, False
        if report.latitude is not None and report.longitude is not None:
            report.latitude = round(report.latitude, KEPT_LOCATION_DECIMALS)
            report.longitude = round(report.longitude, KEPT_LOCATION_DECIMALS)
    # The photos, voice notes and videos they sent: a voice or a face can identify them.
    documents.forget(
        session, list(session.scalars(select(Document).where(Document.conversation_id == conversation.id)))
    )
    to_them = (OutboxMessage.channel == channel, OutboxMessage.address == address)
    # A message being sent right now keeps its row (the dispatcher records its outcome by id; on SQLite a
    # deleted id can be given to the next row) but loses its text and address.
    session.execute(delete(OutboxMessage).where(*to_them, OutboxMessage.status != SENDING))
    session.execute(
        update(OutboxMessage).where(*to_them).values(text="", address=erased_address(conversation))
    )
    session.execute(delete(Timer).where(Timer.conversation_id == conversation.id, Timer.fired_at.is_(None)))
    conversation.address = erased_address(conversation)
    conversation.flow = conversation.step = None
    conversation.state = {}
    conversation.language, conversation.language_chosen = "id", False
    conversation.erased_at = now
    if contact is not None:
        _erase_contact(session, contact, now)
    session.flush()
    return len(reports)


def _erase_contact(session: Session, contact: Contact, now: datetime) -> None:
    """A contact's name and numbers go too, and with them the alerts: they are no longer a contact."""
    others = session.scalars(
        select(Conversation).where(
            Conversation.erased_at.is_(None),
            or_(
                and_(Conversation.channel == "telegram", Conversation.address == contact.telegram_chat_id),
                and_(Conversation.channel == "whatsapp", Conversation.address == contact.whatsapp),
                and_(Conversation.channel == "sms", Conversation.address == contact.sms),
            ),
        )
    ).all()
    contact.name, contact.telegram_chat_id, contact.whatsapp, contact.sms = ERASED_NAME, None, None, None
    contact.active = False
    for other in others:
        erase(session, other, now)


def expire(session: Session, now: datetime, retention_days: int) -> int:
    """RETENTION_DAYS after a person's last report closed, and their last message, their details go.

    A conversation with a report still open, or any report closed within the period, or a message within
    it, is kept; so is a contact's, which carries their language for alerts.
    """
    cutoff = now - timedelta(days=retention_days)
    recent_report = exists().where(
        Report.conversation_id == Conversation.id,
        or_(Report.status.not_in(FINAL), Report.status_changed_at >= cutoff),
    )
    contact_here = exists().where(
        or_(
            and_(Conversation.channel == "telegram", Contact.telegram_chat_id == Conversation.address),
            and_(Conversation.channel == "whatsapp", Contact.whatsapp == Conversation.address),
            and_(Conversation.channel == "sms", Contact.sms == Conversation.address),
        )
    )
    idle = session.scalars(
        select(Conversation)
        .where(
            Conversation.erased_at.is_(None),
            func.coalesce(Conversation.last_inbound_at, Conversation.created_at) < cutoff,
            ~recent_report,
            ~contact_here,
        )
        .limit(500)
    ).all()
    for conversation in idle:
        erase(session, conversation, now)
    # Our copies of replies to anyone, the erasure confirmations included, go after the same period.
    session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.purpose.in_(("reply", "status")), OutboxMessage.created_at < cutoff
        )
    )
    if idle:
        logger.info("%d conversations past RETENTION_DAYS erased", len(idle))
    return len(idle)
