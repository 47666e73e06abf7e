"""A coordinator's reports: /laporan KODE with its timeline, /terbuka, /tugaskan, /tutup KODE CATATAN.

A report outside the coordinator's region is answered as one that does not exist. The reporter hears of
an assignment and of the closing, never who did it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from config.catalog import text
from handlers import lifecycle, places
from handlers.alerts.delivery import language_of, to_contact
from handlers.alerts.log import deliveries
from handlers.codes import find_code, normalise_code
from handlers.commands.arguments import coordinators_region
from handlers.conversation import Turn
from handlers.coordinators.scope import inside
from handlers.localtime import local_time
from handlers.messages import Choice, Reply
from handlers.outbox import ALERT
from models.tables import (
    CLOSED,
    FALSE_REPORT,
    PELOPOR,
    RECEIVED,
    Contact,
    Conversation,
    Incident,
    Report,
    ReportEvent,
)

if TYPE_CHECKING:
    from handlers.commands.command import Command

logger = logging.getLogger(__name__)

PAGE = 10
Assignee = aliased(Contact)
MAX_NOTE = 1000
# Reports still waiting for someone to act on them.
OPEN = tuple(s for s in lifecycle.OPEN if s != FALSE_REPORT)


def report_in_region(turn: Turn, raw: str) -> Report | None:
    """The report a code names, when it lies in the coordinator's region; None, told as not found."""
    code = normalise_code(raw.split()[0]) if raw.split() else None
    code = code or find_code(raw)
    if code is None:
        turn.hint("status.bad_code")
        return None
    found = turn.session.scalar(select(Report).where(Report.code == code))
    coordinator = turn.contact
    if (
        found is None
        or coordinator is None
        or not places.contains(coordinator.region_code, found.region_code)
    ):
        turn.hint("status.not_found", code=code)
        return None
    return found


def _place(region_code: str) -> str:
    found = places.place(region_code)
    return found.path if found else region_code


# /laporan KODE ----------------------------------------------------------------------------------------------


def run_detail(turn: Turn, command: Command) -> None:
    """A report's details and its timeline: received, alerted to whom and how it went, taken, each move."""
    report = report_in_region(turn, command.argument)
    if report is None:
        return
    region = report.region_code
    incident = turn.session.get(Incident, report.incident_id) if report.incident_id else None
    lines = [
        turn.t(
            "coord.detail.head",
            code=report.code,
            level=turn.t(f"level.{report.level}"),
            category=turn.t(f"category.{report.category}"),
            place=_place(region),
            status=turn.t(f"report_status.{report.status}"),
        ),
        turn.t("coord.detail.story", occurred=report.occurred, description=report.description[:600]),
        turn.t("coord.detail.reporter", how=_reporter(turn, report)),
        turn.t("coord.detail.timeline"),
        turn.t("coord.detail.received", time=local_time(report.created_at, region)),
    ]
    _incident, rows = deliveries(turn.session, report.code)
    for row in rows:
        status = turn.t(f"alert_log.status.{row.status}")
        if row.delivery_status:
            status += f" ({row.delivery_status})"
        if row.error and row.status != "sent":
            status += f": {row.error}"
        when = local_time(row.sent_at, region) if row.sent_at else "-"
        lines.append(
            turn.t("coord.detail.alerted", time=when, name=row.contact, role=row.role, status=status)
        )
    for event, actor, assignee in turn.session.execute(
        select(ReportEvent, Contact.name, Assignee.name)
        .outerjoin(Contact, ReportEvent.contact_id == Contact.id)
        .outerjoin(Assignee, ReportEvent.assigned_to == Assignee.id)
        .where(ReportEvent.report_id == report.id)
        .order_by(ReportEvent.id)
    ):
        key = "coord.detail.assigned" if event.assigned_to else "coord.detail.moved"
        note = f' — "{event.note}"' if event.note else ""
        lines.append(
            turn.t(
                key,
                time=local_time(event.at, region),
                status=turn.t(f"report_status.{event.status}"),
                by=actor or "-",
                to=assignee or "-",
                note=note,
            )
        )
    if incident is not None and incident.acknowledged_by is None and report.status == RECEIVED:
        lines.append(turn.t("coord.detail.nobody_yet"))
    turn.send("\n".join(lines), [Choice(f"cmd:assign:{report.code}", turn.t("coord.detail.assign_button"))])


def _reporter(turn: Turn, report: Report) -> str:
    """How the reporter may be reached: their address only where they agreed to be contacted directly."""
    if report.may_contact and not report.anonymous:
        reporter = turn.session.get(Conversation, report.conversation_id)
        if reporter is not None:
            return turn.t("coord.detail.reporter_direct", channel=reporter.channel, address=reporter.address)
    return turn.t("coord.detail.reporter_relay" if report.may_contact else "coord.detail.reporter_anonymous")


# /terbuka [WILAYAH] [HALAMAN] -------------------------------------------------------------------------------


def run_open(turn: Turn, command: Command) -> None:
    """Open reports of the region, oldest first, a page at a time."""
    words = command.argument.split()
    page = int(words.pop()) if len(words) > 1 and words[-1].isdigit() else 1
    region = coordinators_region(turn, " ".join(words))
    if region is None:
        return
    where = (inside(Report.region_code, region.code), Report.status.in_(OPEN))
    total = turn.session.scalar(select(func.count()).select_from(Report).where(*where)) or 0
    if total == 0:
        turn.hint("coord.open.none", place=region.path)
        return
    pages = (total + PAGE - 1) // PAGE
    page = max(1, min(page, pages))
    rows = turn.session.execute(
        select(Report, Contact.name)
        .outerjoin(Incident, Report.incident_id == Incident.id)
        .outerjoin(Contact, Incident.acknowledged_by == Contact.id)
        .where(*where)
        .order_by(Report.created_at, Report.id)
        .offset((page - 1) * PAGE)
        .limit(PAGE)
    ).all()
    lines = [
        turn.t(
            "coord.open.line",
            code=report.code,
            level=turn.t(f"level.{report.level}"),
            category=turn.t(f"category.{report.category}"),
            place=_place(report.region_code).split(",")[0],
            since=local_time(report.created_at, report.region_code),
            holder=holder or turn.t("coord.open.nobody"),
        )
        for report, holder in rows
    ]
    choices = [Choice(f"cmd:detail:{report.code}", report.code) for report, _ in rows]
    if page < pages:
        choices.append(Choice(f"cmd:open:{region.code} {page + 1}", turn.t("coord.open.next")))
    head = turn.t("coord.open.head", place=region.path, total=total, page=page, pages=pages)
    turn.send(head + "\n" + "\n".join(lines), choices)


# /tugaskan KODE PELOPOR -------------------------------------------------------------------------------------


def _report_and_rest(turn: Turn, argument: str, how: str) -> tuple[Report, str] | None:
    """'KODE the rest': the report, in the coordinator's region, and what follows its code; None, told why."""
    words = argument.split()
    report = report_in_region(turn, argument) if words else None
    if report is not None and len(words) > 1:
        return report, " ".join(words[1:])
    if report is not None or not words:
        turn.hint(how)
    return None


def run_assign(turn: Turn, command: Command) -> None:
    """Give a report to a pioneer of the region, by name or id; asks which when the name is shared."""
    found = _report_and_rest(turn, command.argument, "coord.assign.how")
    if found is None:
        return
    report, wanted = found
    coordinator = turn.contact
    assert coordinator is not None
    candidates = _pioneers_named(turn, wanted, coordinator.region_code)
    if not candidates:
        turn.hint("coord.assign.nobody", name=wanted)
        return
    if len(candidates) > 1:
        listed = "\n".join(f"{c.id} — {c.name}, {_place(c.region_code)}" for c in candidates[:8])
        turn.send(
            turn.t("coord.assign.which", name=wanted, listed=listed),
            [Choice(f"cmd:assign:{report.code} {c.id}", f"{c.id} {c.name}") for c in candidates[:8]],
        )
        return
    assign(turn, report, candidates[0])


def _pioneers_named(turn: Turn, wanted: str, region_code: str) -> list[Contact]:
    query = (
        select(Contact)
        .where(Contact.active.is_(True), Contact.role == PELOPOR, inside(Contact.region_code, region_code))
        .order_by(Contact.id)
    )
    if wanted.isdigit():
        return list(turn.session.scalars(query.where(Contact.id == int(wanted))))
    exact = list(turn.session.scalars(query.where(func.lower(Contact.name) == wanted.lower())))
    if exact:
        return exact
    return list(
        turn.session.scalars(query.where(func.lower(Contact.name).contains(wanted.lower())).limit(20))
    )


def assign(turn: Turn, report: Report, pioneer: Contact) -> None:
    """The pioneer holds the incident now; they are told, and so is the reporter, without names."""
    incident = (
        turn.session.scalars(
            select(Incident).where(Incident.id == report.incident_id).with_for_update()
        ).first()
        if report.incident_id
        else None
    )
    open_reports = [
        r
        for r in turn.session.scalars(select(Report).where(Report.incident_id == report.incident_id))
        if r.status in OPEN
    ]
    if incident is None or not open_reports:
        turn.hint("act.closed", code=report.code)
        return
    incident.acknowledged_by, incident.acknowledged_at = pioneer.id, turn.now
    lifecycle.stop_timers(turn.session, incident, turn.now)
    lifecycle.schedule_followup(turn.session, incident, turn.now, turn.policy)
    for each in open_reports:
        if each.status == RECEIVED:
            lifecycle.move(turn.session, each, lifecycle.ACKNOWLEDGED, now=turn.now, contact=turn.contact)
        else:
            lifecycle.tell_reporter(turn.session, each, "report_update.assigned", now=turn.now)
        turn.session.add(
            ReportEvent(
                report_id=each.id,
                status=each.status,
                contact_id=turn.contact.id if turn.contact else None,
                assigned_to=pioneer.id,
                at=turn.now,
            )
        )
    _tell_assignee(turn, report, pioneer)
    turn.hint("coord.assign.done", code=report.code, name=pioneer.name)
    logger.info("incident %s assigned to contact %s", incident.id, pioneer.id)


def _tell_assignee(turn: Turn, report: Report, pioneer: Contact) -> None:
    language = language_of(turn.session, pioneer)
    body = text(language, "coord.assign.told", code=report.code)
    to_contact(
        turn.session,
        pioneer,
        Reply(body, (Choice(f"cmd:act:{report.code}", text(language, "tasks.update", code=report.code)),)),
        now=turn.now,
        policy=turn.policy,
        purpose="assignment",
        priority=ALERT,
        incident_id=report.incident_id,
    )


# /tutup KODE CATATAN ----------------------------------------------------------------------------------------


def run_close(turn: Turn, command: Command) -> None:
    """Close every open report of the incident with a note; the reporters hear it is finished."""
    found = _report_and_rest(turn, command.argument, "coord.close.how")
    if found is None:
        return
    report, note = found[0], found[1][:MAX_NOTE]
    incident = turn.session.get(Incident, report.incident_id) if report.incident_id else None
    reports = (
        list(turn.session.scalars(select(Report).where(Report.incident_id == incident.id)))
        if incident
        else [report]
    )
    closed = [
        r
        for r in reports
        if lifecycle.move(turn.session, r, CLOSED, now=turn.now, note=note, contact=turn.contact)
    ]
    if not closed:
        turn.hint("act.closed", code=report.code)
        return
    if incident is not None:
        lifecycle.stop_timers(turn.session, incident, turn.now)
    turn.hint("coord.close.done", code=report.code, count=len(closed))
