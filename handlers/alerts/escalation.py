"""Silence climbs: a timer per incident, fired once by whichever process finds it due."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from config import routing
from config.catalog import text
from handlers.alerts.delivery import full_alert, send_to_contact
from handlers.alerts.policy import Policy
from handlers.alerts.routing import contacts_in_reach, coordinators_for
from handlers.alerts.wording import alert_values, for_sms, template_variables
from models.db import flushing_only, remember, remembered
from models.tables import Incident, Report, Timer

logger = logging.getLogger(__name__)

ESCALATE = "escalate"


# Run for every report that alerts: built once (see handlers/engine.py).
_PENDING = select(Timer).where(
    Timer.incident_id == bindparam("incident_id"), Timer.kind == ESCALATE, Timer.fired_at.is_(None)
)


def schedule_escalation(session: Session, incident: Incident, now: datetime, policy: Policy) -> None:
    """Set the timer that climbs the alert a level if nobody acknowledges in time.

    A page's reports about one incident read its timer once: only this sets one, and a turn that fires
    timers in bulk (an acknowledgement, a closed incident) makes the next read it again (`remembered`).
    """
    due = now + policy.timeout(incident.level)
    pending_key = ("escalation", incident.id)

    def read() -> list[Timer]:
        with flushing_only(session, Timer):
            return list(session.scalars(_PENDING, {"incident_id": incident.id}))

    pending = remembered(session, pending_key, read)
    if pending and min(t.due_at for t in pending) <= due:
        return
    for timer in pending:
        timer.fired_at = now  # replaced by a sooner one
    sooner = Timer(kind=ESCALATE, incident_id=incident.id, due_at=due, created_at=now)
    session.add(sooner)
    remember(session, pending_key, [sooner])


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
            short=for_sms("alert.nobody_responded", values),
        )
    logger.warning("incident %s: nobody responded; coordinators told", incident.id)
    return "coordinators"


def fire(session: Session, timer: Timer, *, now: datetime, policy: Policy) -> None:
    """An escalation timer fell due: climb, unless someone took the incident meanwhile."""
    incident = session.scalars(
        select(Incident).where(Incident.id == timer.incident_id).with_for_update()
    ).one()
    escalate(session, incident, now=now, policy=policy)
