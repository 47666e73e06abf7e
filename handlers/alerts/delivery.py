"""How an alert reaches a contact: the channel, WhatsApp's 24-hour rule, and who has it already."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from config import routing
from config.catalog import text
from handlers.alerts.policy import Policy
from handlers.alerts.wording import alert_values, for_sms, template_variables
from handlers.messages import Choice, Reply
from handlers.outbox import ALERT, enqueue
from handlers.outbox import URGENT as URGENT_PRIORITY
from handlers.severity import URGENT
from models.db import flushing_only, remembered
from models.tables import FAILED, Contact, Conversation, Document, Incident, OutboxMessage, Recipient, Report

logger = logging.getLogger(__name__)


def whatsapp_window_open(session: Session, number: str, now: datetime) -> bool:
    """Whether the contact wrote to the bot on WhatsApp within 24 hours, so free-form messages are allowed."""
    last = session.scalar(
        select(Conversation.last_inbound_at).where(
            Conversation.channel == "whatsapp", Conversation.address == number
        )
    )
    return last is not None and now - last < timedelta(hours=routing.WHATSAPP_WINDOW_HOURS)


def language_of(session: Session, contact: Contact) -> str:
    """The language a contact chose in their conversation with the bot; Indonesian until they chose."""
    addresses = [
        (channel, address)
        for channel, address in (("telegram", contact.telegram_chat_id), ("whatsapp", contact.whatsapp))
        if address
    ]
    for channel, address in addresses:
        found = session.scalar(
            select(Conversation.language).where(
                Conversation.channel == channel, Conversation.address == address
            )
        )
        if found:
            return found
    return "id"


def languages_of(session: Session, contacts: list[Contact]) -> dict[int, str]:
    """language_of for many contacts in one query per channel: contact id -> language, where chosen."""
    found: dict[int, str] = {}
    for channel, column in (("whatsapp", "whatsapp"), ("telegram", "telegram_chat_id")):
        by_address = {getattr(c, column): c.id for c in contacts if getattr(c, column)}
        addresses = list(by_address)
        for start in range(0, len(addresses), 500):
            rows = session.execute(
                select(Conversation.address, Conversation.language).where(
                    Conversation.channel == channel, Conversation.address.in_(addresses[start : start + 500])
                )
            )
            found.update({by_address[address]: language for address, language in rows if language})
    return found


def send_to_contact(
    session: Session,
    contact: Contact,
    body: str,
    *,
    now: datetime,
    policy: Policy,
    incident: Incident,
    purpose: str,
    ack_code: str | None = None,
    template_variables: dict[str, str] | None = None,
    short: str | None = None,
) -> OutboxMessage:
    """Queue an alert or update about an incident, with the "Saya tangani" button where it fits.

    `short` is the same in the fewest SMS segments, for a contact reached by SMS.
    """
    choices = (Choice(f"ack:{ack_code}", text("id", "alert.ack.button")),) if ack_code else ()
    return to_contact(
        session,
        contact,
        Reply(body, choices),
        now=now,
        policy=policy,
        purpose=purpose,
        priority=URGENT_PRIORITY if incident.level in URGENT else ALERT,
        template=Template(policy.whatsapp_template, "TWILIO_TEMPLATE_ALERT", template_variables),
        incident_id=incident.id,
        buttons_on_whatsapp=False,
        short=Reply(short) if short else None,
    )


@dataclass(frozen=True)
class Template:
    """The approved WhatsApp template for a kind of message, the setting that names it, and its values."""

    sid: str
    setting: str
    variables: dict[str, str] | None


def to_contact(
    session: Session,
    contact: Contact,
    reply: Reply,
    *,
    now: datetime,
    policy: Policy,
    purpose: str,
    priority: int,
    template: Template | None = None,
    incident_id: int | None = None,
    buttons_on_whatsapp: bool = True,
    short: Reply | None = None,
) -> OutboxMessage:
    """Queue a message to a contact: Telegram when they have it, else WhatsApp, within Twilio's rules,
    else SMS (`short`, when given, is the form that fits an SMS; no 24-hour window applies there).

    A channel the bot has no settings for is passed over as a blocked one is; when no channel is left
    the message is stored as failed with the reason, so alert-log shows it and nobody counts on it.
    """
    queued = {
        "now": now,
        "purpose": purpose,
        "priority": priority,
        "incident_id": incident_id,
        "contact_id": contact.id,
    }
    telegram_usable = contact.telegram_chat_id and not contact.unreachable_reason
    if telegram_usable and "telegram" not in policy.unavailable:
        return enqueue(session, channel="telegram", address=contact.telegram_chat_id, reply=reply, **queued)  # type: ignore[arg-type]
    number = contact.whatsapp
    on_whatsapp = reply if buttons_on_whatsapp else Reply(reply.text)
    if number and "whatsapp" not in policy.unavailable:
        if whatsapp_window_open(session, number, now):
            return enqueue(session, channel="whatsapp", address=number, reply=on_whatsapp, **queued)
        if template is not None and template.sid and template.variables is not None:
            message = enqueue(session, channel="whatsapp", address=number, reply=on_whatsapp, **queued)
            message.template_sid, message.template_variables = template.sid, template.variables
            return message
    if contact.sms and "sms" not in policy.unavailable:
        return enqueue(session, channel="sms", address=contact.sms, reply=short or reply, **queued)
    templatable = template is not None and template.variables is not None
    channel, reason = unreachable_because(contact, policy, template.setting if templatable else None)  # type: ignore[union-attr]
    message = enqueue(
        session,
        channel=channel,
        address={"whatsapp": number, "sms": contact.sms}.get(channel, contact.telegram_chat_id) or "",
        reply=Reply(reply.text),
        **queued,
    )
    message.status, message.last_error = FAILED, reason
    logger.warning("contact %s cannot be reached: %s", contact.id, reason)
    return message


def unreachable_because(contact: Contact, policy: Policy, template_setting: str | None) -> tuple[str, str]:
    """The channel a contact would have had, and why nothing can be sent there, for alert-log."""
    if contact.whatsapp:
        if "whatsapp" in policy.unavailable:
            lost = policy.unavailable["whatsapp"]
        elif template_setting:
            lost = f"outside the WhatsApp 24-hour window and no template ({template_setting})"
        else:
            lost = "outside the WhatsApp 24-hour window"
        if contact.telegram_chat_id and "telegram" in policy.unavailable and not contact.unreachable_reason:
            lost = f"{policy.unavailable['telegram']}; {lost}"
        return "whatsapp", lost
    if contact.telegram_chat_id and not contact.unreachable_reason:
        return "telegram", f"{policy.unavailable['telegram']}; no WhatsApp number"
    if contact.sms:
        return "sms", policy.unavailable.get("sms", "sms unreachable")
    return "telegram", "telegram unreachable and no WhatsApp number"


def attach_media(session: Session, alert: OutboxMessage, report: Report, *, now: datetime) -> None:
    """The reporter's photos, voice notes and videos, right after the alert, where the channel carries
    them: on Telegram resent by its file id or uploaded, on WhatsApp fetched by Twilio from our URL.
    Not on SMS, nor with a WhatsApp template (outside the 24-hour window only the template may go)."""
    if alert.status == FAILED or alert.template_sid or alert.channel not in ("telegram", "whatsapp"):
        return
    for document_id in report.media or []:
        document = session.get(Document, document_id)
        if document is None or not document.path:
            continue  # erased with the reporter's data
        caption = text(
            "id", "alert.media", code=report.code, kind=text("id", f"alert.media_kind.{document.kind}")
        )
        enqueue(
            session,
            channel=alert.channel,
            address=alert.address,
            reply=Reply(caption, document_id=document.id),
            now=now,
            purpose=alert.purpose,
            priority=alert.priority,
            incident_id=alert.incident_id,
            contact_id=alert.contact_id,
        )


# Run for every report that finds someone to alert: built once (see handlers/engine.py).
_RECIPIENTS = select(Recipient.contact_id).where(Recipient.incident_id == bindparam("incident_id"))


def full_alert(
    session: Session,
    incident: Incident,
    report: Report,
    contacts: list[Contact],
    *,
    now: datetime,
    policy: Policy,
    heading: str = "alert.full",
) -> int:
    """Send the whole alert to contacts who do not have it yet; how many of them it can reach."""
    if not contacts:
        return 0

    def read() -> frozenset[int]:
        with flushing_only(session, Recipient):  # not the page's other writes (see handlers/engine.py)
            found = session.connection().execute(_RECIPIENTS, {"incident_id": incident.id})
            return frozenset(found.scalars())

    already = remembered(session, ("recipients", incident.id), read, unless=(Recipient,))
    values = alert_values(report, incident.level)
    minutes = str(int(policy.timeout(incident.level).total_seconds() // 60))
    body = text("id", heading, **values, minutes=minutes)
    short = for_sms(heading, values, minutes=minutes)
    reached = 0
    for contact in (c for c in contacts if c.id not in already):
        session.add(
            Recipient(incident_id=incident.id, contact_id=contact.id, reach=incident.reach, alerted_at=now)
        )
        message = send_to_contact(
            session,
            contact,
            body,
            now=now,
            policy=policy,
            incident=incident,
            purpose="alert",
            ack_code=report.code,
            template_variables=template_variables(values),
            short=short,
        )
        reached += message.status != FAILED
        attach_media(session, message, report, now=now)
    return reached
