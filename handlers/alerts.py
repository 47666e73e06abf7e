"""Alerts: a report reaches the contacts responsible for its place; the first to answer takes it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lokal import mask_pii
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config import routing
from config.catalog import text
from handlers.localtime import local_time
from handlers.messages import Choice, Reply
from handlers.outbox import ALERT, enqueue
from handlers.outbox import URGENT as URGENT_PRIORITY
from handlers.places import ancestors, district_of, level_of, place
from handlers.severity import LEVELS, URGENT, raise_for_reports
from models.db import Database
from models.tables import (
    ACKNOWLEDGED,
    FAILED,
    RECEIVED,
    Contact,
    Conversation,
    Incident,
    OutboxMessage,
    Recipient,
    Report,
    Timer,
)

logger = logging.getLogger(__name__)

ESCALATE = "escalate"


@dataclass(frozen=True)
class Policy:
    """What routing depends on: response timeouts, the WhatsApp template, channels that cannot send."""

    ack_timeout_seconds: int = 7200
    ack_timeout_urgent_seconds: int = 1800
    whatsapp_template: str = ""
    # Channels the bot has no settings for, each with the settings it lacks (see Settings.missing_to_send).
    unavailable: Mapping[str, str] = field(default_factory=dict)

    def timeout(self, level: str) -> timedelta:
        """How long contacts have to acknowledge before the alert climbs a level."""
        urgent = level in URGENT
        return timedelta(seconds=self.ack_timeout_urgent_seconds if urgent else self.ack_timeout_seconds)


# Who gets an alert ------------------------------------------------------------------------------------------


def contacts_in_reach(session: Session, region_code: str, reach: int, level: str) -> list[Contact]:
    """Active contacts whose region contains the report's, down to the reach; coordinators when urgent."""
    candidates = session.scalars(
        select(Contact)
        .where(Contact.active.is_(True), Contact.region_code.in_(ancestors(region_code)))
        .order_by(Contact.id)
    )
    chosen = []
    for contact in candidates:
        if contact.role == routing.COORDINATOR:
            if level in routing.COORDINATORS_ALERTED:
                chosen.append(contact)
        elif level_of(contact.region_code) >= reach:
            chosen.append(contact)
    return chosen


def coordinators_for(session: Session, region_code: str) -> list[Contact]:
    """Active coordinators whose region contains this one."""
    return list(
        session.scalars(
            select(Contact).where(
                Contact.active.is_(True),
                Contact.role == routing.COORDINATOR,
                Contact.region_code.in_(ancestors(region_code)),
            )
        )
    )


# How it reaches them ----------------------------------------------------------------------------------------


def whatsapp_window_open(session: Session, number: str, now: datetime) -> bool:
    """Whether the contact wrote to the bot on WhatsApp within 24 hours, so free-form messages are allowed."""
    last = session.scalar(
        select(Conversation.last_inbound_at).where(
            Conversation.channel == "whatsapp", Conversation.address == number
        )
    )
    return last is not None and now - last < timedelta(hours=routing.WHATSAPP_WINDOW_HOURS)


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
) -> OutboxMessage:
    """Queue a message to a contact: Telegram when they have it, else WhatsApp, within Twilio's rules.

    A channel the bot has no settings for is passed over as a blocked one is; when no channel is left
    the message is stored as failed with the reason, so alert-log shows it and nobody counts on it.
    """
    queued = {
        "now": now,
        "purpose": purpose,
        "priority": URGENT_PRIORITY if incident.level in URGENT else ALERT,
        "incident_id": incident.id,
        "contact_id": contact.id,
    }
    telegram_usable = contact.telegram_chat_id and not contact.unreachable_reason
    if telegram_usable and "telegram" not in policy.unavailable:
        choices = (Choice(f"ack:{ack_code}", text("id", "alert.ack.button")),) if ack_code else ()
        return enqueue(
            session,
            channel="telegram",
            address=contact.telegram_chat_id,
            reply=Reply(body, choices),
            **queued,
        )
    number = contact.whatsapp
    if number and "whatsapp" not in policy.unavailable:
        if whatsapp_window_open(session, number, now):
            return enqueue(session, channel="whatsapp", address=number, reply=Reply(body), **queued)
        if policy.whatsapp_template and template_variables is not None:
            message = enqueue(session, channel="whatsapp", address=number, reply=Reply(body), **queued)
            message.template_sid, message.template_variables = policy.whatsapp_template, template_variables
            return message
    channel, reason = unreachable_because(contact, policy, template_variables is not None)
    message = enqueue(
        session,
        channel=channel,
        address=(number if channel == "whatsapp" else contact.telegram_chat_id) or "",
        reply=Reply(body),
        **queued,
    )
    message.status, message.last_error = FAILED, reason
    logger.warning("contact %s cannot be reached: %s", contact.id, reason)
    return message


def unreachable_because(contact: Contact, policy: Policy, templated: bool) -> tuple[str, str]:
    """The channel a contact would have had, and why nothing can be sent there, for alert-log."""
    if contact.whatsapp:
        if "whatsapp" in policy.unavailable:
            lost = policy.unavailable["whatsapp"]
        elif templated:
            lost = "outside the WhatsApp 24-hour window and no template (TWILIO_TEMPLATE_ALERT)"
        else:
            lost = "outside the WhatsApp 24-hour window"
        if contact.telegram_chat_id and "telegram" in policy.unavailable and not contact.unreachable_reason:
            lost = f"{policy.unavailable['telegram']}; {lost}"
        return "whatsapp", lost
    if contact.telegram_chat_id and not contact.unreachable_reason:
        return "telegram", f"{policy.unavailable['telegram']}; no WhatsApp number"
    return "telegram", "telegram unreachable and no WhatsApp number"


# What the alert says ----------------------------------------------------------------------------------------


def _listed(keys: list[str], catalog_prefix: str) -> str:
    return ", ".join(text("id", f"{catalog_prefix}.{k}") for k in keys) or text("id", "common.none")


def alert_values(report: Report, level: str) -> dict[str, str]:
    """What an alert tells: never the reporter's name, number or chat id."""
    found = place(report.region_code)
    # Reporters sometimes name themselves or give their number in their own words; alerts must not.
    # Street addresses stay: they say where the trouble is.
    summary = mask_pii(report.description, exclude=["ADDRESS"]).text
    if len(summary) > routing.ALERT_SUMMARY_CHARS:
        summary = summary[: routing.ALERT_SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return {
        "code": report.code,
        "category": text("id", f"category.{report.category}"),
        "level": text("id", f"level.{level}"),
        "place": found.path if found else report.region_code,
        "time": local_time(report.created_at, report.region_code),
        "occurred": report.occurred,
        "summary": summary,
        "danger": _listed(report.danger_signs, "danger"),
        "vulnerable": _listed(report.vulnerable_groups, "vulnerable"),
    }


def template_variables(values: dict[str, str]) -> dict[str, str]:
    """The alert as the numbered variables of the approved WhatsApp template."""
    return {
        "1": values["code"],
        "2": values["category"],
        "3": values["level"],
        "4": values["place"],
        "5": values["time"],
    }


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
    already = set(session.scalars(select(Recipient.contact_id).where(Recipient.incident_id == incident.id)))
    values = alert_values(report, incident.level)
    body = text(
        "id", heading, **values, minutes=str(int(policy.timeout(incident.level).total_seconds() // 60))
    )
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
        )
        reached += message.status != FAILED
    return reached


# A new report -----------------------------------------------------------------------------------------------


def open_incident_for(session: Session, report: Report, now: datetime) -> Incident | None:
    """The incident this report belongs to: same kecamatan and category within the last hours."""
    district = district_of(report.region_code)
    if district is None:
        return None  # a report placed only at regency level is too coarse to link
    since = now - timedelta(hours=routing.INCIDENT_WINDOW_HOURS)
    return session.scalars(
        select(Incident)
        .where(
            Incident.district_code == district,
            Incident.category == report.category,
            Incident.last_report_at >= since,
        )
        .order_by(Incident.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def schedule_escalation(session: Session, incident: Incident, now: datetime, policy: Policy) -> None:
    """Set the timer that climbs the alert a level if nobody acknowledges in time."""
    due = now + policy.timeout(incident.level)
    pending = session.scalars(
        select(Timer).where(
            Timer.incident_id == incident.id, Timer.kind == ESCALATE, Timer.fired_at.is_(None)
        )
    ).all()
    if pending and min(t.due_at for t in pending) <= due:
        return
    for timer in pending:
        timer.fired_at = now  # replaced by a sooner one
    session.add(Timer(kind=ESCALATE, incident_id=incident.id, due_at=due, created_at=now))


def on_new_report(session: Session, report: Report, *, now: datetime, policy: Policy) -> Incident:
    """Link the report to its incident and alert whoever must know, in the report's own transaction."""
    incident = open_incident_for(session, report, now)
    if incident is None:
        incident = Incident(
            district_code=district_of(report.region_code) or report.region_code,
            category=report.category,
            level=report.level,
            reach=routing.FIRST_REACH[report.level],
            first_report_at=now,
            last_report_at=now,
        )
        session.add(incident)
        session.flush()
        report.incident_id = incident.id
        contacts = contacts_in_reach(session, report.region_code, incident.reach, incident.level)
        sent = full_alert(session, incident, report, contacts, now=now, policy=policy)
        logger.info("report %s: new incident %s, alerted %d contacts", report.code, incident.id, sent)
        if sent:
            schedule_escalation(session, incident, now, policy)
        else:
            escalate(session, incident, now=now, policy=policy)  # nobody at this level: climb at once
        return incident

    report.incident_id = incident.id
    session.flush()
    reporters = len(
        set(session.scalars(select(Report.conversation_id).where(Report.incident_id == incident.id)))
    )
    incident.report_count += 1
    incident.reporter_count = reporters
    incident.last_report_at = now
    # Raise from the reports' own highest level, not from the incident's already raised one, so a raise
    # for independent reporters is counted once.
    reported = max(
        session.scalars(select(Report.level).where(Report.incident_id == incident.id)), key=LEVELS.index
    )
    incident.level = max(incident.level, raise_for_reports(reported, reporters), key=LEVELS.index)
    incident.reach = min(incident.reach, routing.FIRST_REACH[incident.level]) if incident.reach else 0
    first = incident.reports[0]
    values = alert_values(report, incident.level)
    update_body = text(
        "id", "alert.update", number=str(incident.report_count), first_code=first.code, **values
    )
    for recipient in session.scalars(select(Recipient).where(Recipient.incident_id == incident.id)):
        contact = session.get(Contact, recipient.contact_id)
        if contact is not None and contact.active:
            send_to_contact(
                session,
                contact,
                update_body,
                now=now,
                policy=policy,
                incident=incident,
                purpose="update",
                ack_code=first.code if incident.acknowledged_by is None else None,
            )
    contacts = contacts_in_reach(session, report.region_code, max(incident.reach, 1), incident.level)
    full_alert(session, incident, report, contacts, now=now, policy=policy)
    if incident.acknowledged_by is None:
        schedule_escalation(session, incident, now, policy)
    else:
        # Someone already handles this incident; the report flow tells the reporter after the code.
        report.status, report.status_changed_at = ACKNOWLEDGED, now
    logger.info("report %s joined incident %s as report %d", report.code, incident.id, incident.report_count)
    return incident


# Acknowledgement --------------------------------------------------------------------------------------------


def mark_handled(session: Session, report: Report, now: datetime) -> None:
    """The report is being handled: store it and tell the reporter, in their language, not by whom."""
    report.status, report.status_changed_at = ACKNOWLEDGED, now
    reporter = session.get(Conversation, report.conversation_id)
    if reporter is not None:
        enqueue(
            session,
            channel=reporter.channel,
            address=reporter.address,
            reply=Reply(text(reporter.language, "report_update.acknowledged", code=report.code)),
            now=now,
            purpose="status",
            report_id=report.id,
        )


@dataclass(frozen=True)
class Acknowledgement:
    """What happened when a contact said "saya tangani": taken now, already theirs, or someone else's."""

    outcome: str
    code: str
    holder: str | None = None


def acknowledge(session: Session, contact: Contact, code: str, *, now: datetime) -> Acknowledgement | None:
    """The first contact to acknowledge takes the incident; the reporters hear it is being handled."""
    report = session.scalar(select(Report).where(Report.code == code))
    if report is None or report.incident_id is None:
        return None
    incident = session.scalars(
        select(Incident).where(Incident.id == report.incident_id).with_for_update()
    ).one()
    if incident.acknowledged_by is not None:
        if incident.acknowledged_by == contact.id:
            return Acknowledgement("yours", code)
        holder = session.get(Contact, incident.acknowledged_by)
        return Acknowledgement("taken", code, holder.name if holder else None)
    incident.acknowledged_by, incident.acknowledged_at = contact.id, now
    session.execute(
        update(Timer).where(Timer.incident_id == incident.id, Timer.fired_at.is_(None)).values(fired_at=now)
    )
    for each in session.scalars(
        select(Report).where(Report.incident_id == incident.id, Report.status == RECEIVED)
    ):
        mark_handled(session, each, now)
    logger.info("incident %s acknowledged by contact %s", incident.id, contact.id)
    return Acknowledgement("taken_now", code)


# Escalation -------------------------------------------------------------------------------------------------


def escalate(session: Session, incident: Incident, *, now: datetime, policy: Policy) -> str:
    """Nobody acknowledged in time: alert the next level up, or tell the coordinators at the top."""
    if incident.acknowledged_by is not None or incident.reach <= routing.COORDINATORS_TOLD:
        return "nothing"
    report = session.scalars(
        select(Report).where(Report.incident_id == incident.id).order_by(Report.id.desc()).limit(1)
    ).one()
    while incident.reach > routing.PROVINCE:
        incident.reach -= 1
        contacts = contacts_in_reach(session, report.region_code, incident.reach, incident.level)
        if full_alert(session, incident, report, contacts, now=now, policy=policy, heading="alert.escalated"):
            schedule_escalation(session, incident, now, policy)
            logger.info("incident %s climbed to reach %d", incident.id, incident.reach)
            return "climbed"
    incident.reach = routing.COORDINATORS_TOLD
    values = alert_values(report, incident.level)
    body = text("id", "alert.nobody_responded", **values)
    for coordinator in coordinators_for(session, report.region_code):
        send_to_contact(
            session,
            coordinator,
            body,
            now=now,
            policy=policy,
            incident=incident,
            purpose="escalation",
            ack_code=report.code,
            template_variables=template_variables(values),
        )
    logger.warning("incident %s: nobody responded; coordinators told", incident.id)
    return "coordinators"


def fire_due_timers(db: Database, *, now: datetime, policy: Policy, limit: int = 100) -> int:
    """Fire every timer that is due, each exactly once even with several processes; how many fired."""
    fired = 0
    for _ in range(limit):
        with db.transaction() as session:
            query = (
                select(Timer)
                .where(Timer.fired_at.is_(None), Timer.due_at <= now)
                .order_by(Timer.due_at)
                .limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            timer = session.scalars(query).first()
            if timer is None:
                return fired
            claimed = session.execute(
                update(Timer).where(Timer.id == timer.id, Timer.fired_at.is_(None)).values(fired_at=now)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            if timer.kind == ESCALATE and timer.incident_id is not None:
                incident = session.scalars(
                    select(Incident).where(Incident.id == timer.incident_id).with_for_update()
                ).one()
                escalate(session, incident, now=now, policy=policy)
            fired += 1
    return fired


def alerted_count(session: Session, incident: Incident) -> int:
    """Contacts an alert about the incident is on its way to; none means nobody registered can be reached."""
    return len(
        set(
            session.scalars(
                select(OutboxMessage.contact_id).where(
                    OutboxMessage.incident_id == incident.id,
                    OutboxMessage.contact_id.is_not(None),
                    OutboxMessage.status != FAILED,
                )
            )
        )
    )


# What coordinators can see ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One message of an alert: to whom, how, and what became of it."""

    contact: str
    role: str
    channel: str
    purpose: str
    status: str
    delivery_status: str | None
    error: str | None
    sent_at: datetime | None


def deliveries(session: Session, code: str) -> tuple[Incident | None, list[Delivery]]:
    """Every alert message of the incident a report belongs to, for the coordinators' view."""
    report = session.scalar(select(Report).where(Report.code == code))
    if report is None or report.incident_id is None:
        return None, []
    incident = session.get(Incident, report.incident_id)
    rows = session.execute(
        select(OutboxMessage, Contact)
        .join(Contact, OutboxMessage.contact_id == Contact.id)
        .where(OutboxMessage.incident_id == report.incident_id)
        .order_by(OutboxMessage.id)
    )
    return incident, [
        Delivery(c.name, c.role, m.channel, m.purpose, m.status, m.delivery_status, m.last_error, m.sent_at)
        for m, c in rows
    ]
