"""The story of one alert, for coordinators: who got it, how it went, who took it and when."""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.catalog import text
from handlers.alerts import deliveries
from handlers.codes import normalise_code
from handlers.localtime import local_time
from models.tables import Contact


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
