"""Reports of one thing become one incident; the first contact to answer takes it, the reporters are told."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, distinct, func, select, update
from sqlalchemy.orm import Session

from config import routing
from config.catalog import text
from handlers import lifecycle
from handlers.alerts.delivery import full_alert, send_to_contact
from handlers.alerts.escalation import escalate, schedule_escalation
from handlers.alerts.policy import Policy
from handlers.alerts.routing import contacts_in_reach
from handlers.alerts.wording import alert_values, for_sms
from handlers.outbox import about_incident
from handlers.places import district_of
from handlers.severity import LEVELS, raise_for_reports
from models.db import flushing_only, remember, remembered
from models.tables import (
    ACKNOWLEDGED,
    FAILED,
    RECEIVED,
    Contact,
    Incident,
    OutboxMessage,
    Recipient,
    Report,
    Timer,
)

logger = logging.getLogger(__name__)


# The statements every finished report runs, built once with parameters: building a statement and its
# cache key costs about as much as running it (see handlers/engine.py).
_OPEN_INCIDENT = (
    select(Incident)
    .where(
        Incident.district_code == bindparam("district"),
        Incident.category == bindparam("category"),
        Incident.last_report_at >= bindparam("since"),
    )
    .order_by(Incident.id.desc())
    .limit(1)
    .with_for_update()
)
_ALERTED_CONTACTS = (
    select(Contact)
    .join(Recipient, Recipient.contact_id == Contact.id)
    .where(Recipient.incident_id == bindparam("incident_id"), Contact.active.is_(True))
    .order_by(Recipient.id)
)
_ALERTED_COUNT = select(func.count(distinct(OutboxMessage.contact_id))).where(
    OutboxMessage.incident_id == bindparam("incident_id"),
    OutboxMessage.contact_id.is_not(None),
    OutboxMessage.status != FAILED,
)


def open_incident_for(session: Session, region_code: str, category: str, *, now: datetime) -> Incident | None:
    """The incident a report from here belongs to: same kecamatan and category within the last hours."""
    district = district_of(region_code)
    if district is None:
        return None  # a report placed only at regency level is too coarse to link
    since = now - timedelta(hours=routing.INCIDENT_WINDOW_HOURS)
    found = {"district": district, "category": category, "since": since}

    def read() -> Incident | None:
        with session.no_autoflush:  # an incident is written at once when it is opened (`on_new_report`)
            return session.scalars(_OPEN_INCIDENT, found).first()

    # Locked by the page's first report about it; the next ones join it without asking again.
    return remembered(session, ("incident", district, category), read)


# An incident's reports in one statement, run for every report that joins one: how many people
# reported it, the highest level among the reports (as its place in LEVELS), and the first report's code.
_OF_INCIDENT = Report.incident_id == bindparam("incident_id")
_JOINED = select(
    func.count(distinct(Report.conversation_id)),
    func.max(case({level: place for place, level in enumerate(LEVELS)}, value=Report.level)),
    select(Report.code).where(_OF_INCIDENT).order_by(Report.id).limit(1).scalar_subquery(),
).where(_OF_INCIDENT)


def on_new_report(
    session: Session, report: Report, incident: Incident | None, *, now: datetime, policy: Policy
) -> Incident:
    """Link the report to its incident and alert whoever must know, in the report's own transaction.

    `incident`: the open one the report was written into (`open_incident_for`), or None to open one.
    """
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
        if district_of(report.region_code) is not None:  # as `open_incident_for` would find it
            remember(session, ("incident", incident.district_code, incident.category), incident)
        contacts = contacts_in_reach(session, report.region_code, incident.reach, incident.level)
        sent = full_alert(session, incident, report, contacts, now=now, policy=policy)
        logger.info("report %s: new incident %s, alerted %d contacts", report.code, incident.id, sent)
        if sent:
            schedule_escalation(session, incident, now, policy)
        else:
            escalate(session, incident, now=now, policy=policy)  # nobody at this level: climb at once
        return incident

    # Counted in the database: a large clash gathers hundreds of reports, and loading them all for each
    # new one made every report slower than the last.
    with flushing_only(session, Report):  # a report that opened an incident in this page is linked to it
        joined = session.connection().execute(_JOINED, {"incident_id": incident.id})
        reporters, highest, first_code = joined.one()
    incident.report_count += 1
    incident.reporter_count = reporters
    incident.last_report_at = now
    # Raise from the reports' own highest level, not from the incident's already raised one, so a raise
    # for independent reporters is counted once.
    reported = LEVELS[highest]
    incident.level = max(incident.level, raise_for_reports(reported, reporters), key=LEVELS.index)
    incident.reach = min(incident.reach, routing.FIRST_REACH[incident.level]) if incident.reach else 0

    def update() -> tuple[str, str]:
        values = alert_values(report, incident.level)
        number = str(incident.report_count)
        body = text("id", "alert.update", number=number, first_code=first_code, **values)
        return body, for_sms("alert.update", values, number=number, first_code=first_code)

    ack_code = first_code if incident.acknowledged_by is None else None
    update_alerted(session, incident, update, now=now, policy=policy, ack_code=ack_code)
    contacts = contacts_in_reach(session, report.region_code, max(incident.reach, 1), incident.level)
    full_alert(session, incident, report, contacts, now=now, policy=policy)
    if incident.acknowledged_by is None:
        schedule_escalation(session, incident, now, policy)
    else:
        # Someone already handles this incident; the report flow tells the reporter after the code.
        report.status, report.status_changed_at = ACKNOWLEDGED, now
    logger.info("report %s joined incident %s as report %d", report.code, incident.id, incident.report_count)
    return incident


def add_details(session: Session, report: Report, details: str, *, now: datetime, policy: Policy) -> None:
    """What a reporter added after an early alert, as a short update to everyone who got it."""
    if report.incident_id is None:
        return
    incident = session.get(Incident, report.incident_id)
    if incident is None:
        return

    def addition() -> tuple[str, str]:
        body = text("id", "alert.addition", code=report.code, details=details)
        return body, for_sms("alert.addition", {"code": report.code, "details": details})

    update_alerted(session, incident, addition, now=now, policy=policy)


def update_alerted(
    session: Session,
    incident: Incident,
    words: Callable[[], tuple[str, str]],
    *,
    now: datetime,
    policy: Policy,
    ack_code: str | None = None,
) -> None:
    """An update to every active contact the incident's alert went to, in the order they got it.

    The contacts are read in one query: one lookup each was a query per pioneer alerted, for every
    report that joined. `words` gives the update and its SMS form, written only when someone gets them.
    """

    def read() -> list[Contact]:
        with flushing_only(session, Contact, Recipient):
            return list(session.scalars(_ALERTED_CONTACTS, {"incident_id": incident.id}))

    alerted = remembered(session, ("alerted", incident.id), read, unless=(Contact, Recipient))
    if not alerted:
        return
    body, short = words()
    for contact in alerted:
        send_to_contact(
            session,
            contact,
            body,
            now=now,
            policy=policy,
            incident=incident,
            purpose="update",
            ack_code=ack_code,
            short=short,
        )


def alerted_count(session: Session, incident: Incident) -> int:
    """Contacts an alert about the incident is on its way to; none means nobody registered can be reached.

    Read again in a page only once a message about the incident is queued (`handlers.outbox.enqueue`).
    """

    def read() -> int:
        if any(
            isinstance(obj, OutboxMessage) and obj.incident_id == incident.id
            for obj in (*session.new, *session.dirty)
        ):
            session.flush()  # only then: not the page's other writes (see handlers/engine.py)
        return session.connection().execute(_ALERTED_COUNT, {"incident_id": incident.id}).scalar() or 0

    return remembered(session, about_incident(incident.id), read)


@dataclass(frozen=True)
class Acknowledgement:
    """What happened when a contact said "saya tangani": taken now, already theirs, or someone else's."""

    outcome: str
    code: str
    holder: str | None = None


def acknowledge(
    session: Session, contact: Contact, code: str, *, now: datetime, policy: Policy | None = None
) -> Acknowledgement | None:
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
        lifecycle.move(session, each, ACKNOWLEDGED, now=now, contact=contact)
    lifecycle.schedule_followup(session, incident, now, policy or Policy())
    logger.info("incident %s acknowledged by contact %s", incident.id, contact.id)
    return Acknowledgement("taken_now", code)
