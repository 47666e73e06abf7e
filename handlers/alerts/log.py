"""The story of one alert, for coordinators: who got it, how each delivery went, who took it and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.catalog import text
from handlers.codes import normalise_code
from handlers.localtime import local_time
from models.tables import Contact, Incident, OutboxMessage, Report


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


def alert_log(session: Session, raw_code: str, language: str = "id") -> list[str]:
    """Lines describing every alert message of the incident a report belongs to."""
    code = normalise_code(raw_code) or raw_code
    incident, rows = deliveries(session, code)
    if incident is None:
        return [text(language, "alert_log.not_found", code=code)]
    region = incident.district_code
    lines = [
        text(
            language,
            "alert_log.header",
            code=code,
            level=text(language, f"level.{incident.level}"),
            reports=incident.report_count,
            reporters=incident.reporter_count,
        )
    ]
    holder = session.get(Contact, incident.acknowledged_by) if incident.acknowledged_by else None
    if holder is not None and incident.acknowledged_at is not None:
        when = local_time(incident.acknowledged_at, region)
        lines.append(text(language, "alert_log.acknowledged", name=holder.name, time=when))
    else:
        lines.append(text(language, "alert_log.not_acknowledged"))
    for row in rows:
        status = text(language, f"alert_log.status.{row.status}")
        if row.delivery_status:
            status += f" ({row.delivery_status})"
        if row.status == "sent" and row.sent_at is not None:
            status += " " + local_time(row.sent_at, region)
        if row.error and row.status != "sent":
            status += f": {row.error}"
        lines.append(
            text(
                language, "alert_log.row", name=row.contact, role=row.role, channel=row.channel, status=status
            )
        )
    return lines
