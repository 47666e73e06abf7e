"""Carrying a report to its end: /tugas lists what a contact holds, /tindak KODE moves it on with a note,
and whoever holds an open report is reminded every FOLLOWUP_HOURS until it is closed.

The reports of one incident move together: the pioneer handles the incident, and every reporter of it
hears of each change in their own language, never who made it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.catalog import text
from handlers import lifecycle, places
from handlers.alerts.delivery import Template, language_of, to_contact
from handlers.alerts.policy import Policy
from handlers.alerts.routing import coordinators_for
from handlers.codes import find_code, normalise_code
from handlers.conversation import FINISH, STAY, Flow, Step, Turn, start_flow, value_of
from handlers.lifecycle import FOLLOWUP, schedule_followup
from handlers.localtime import local_time
from handlers.messages import Choice, Reply
from handlers.outbox import ALERT, BULK
from models.tables import CLOSED, FALSE_REPORT, HANDLING, VERIFIED, Contact, Incident, Report, Timer

if TYPE_CHECKING:
    from handlers.commands.command import Command

logger = logging.getLogger(__name__)

# What a holder may move a report to with /tindak, in the order they are offered.
ONWARD = (VERIFIED, FALSE_REPORT, HANDLING, CLOSED)
MAX_NOTE = 1000
MOST_LISTED = 10


def open_reports(session: Session, incident: Incident) -> list[Report]:
    """The incident's reports that are not closed yet, oldest first."""
    return list(
        session.scalars(
            select(Report)
            .where(Report.incident_id == incident.id, Report.status.in_(lifecycle.OPEN))
            .order_by(Report.id)
        )
    )


def _first_code(session: Session, incident: Incident) -> str:
    return (
        session.scalars(
            select(Report.code).where(Report.incident_id == incident.id).order_by(Report.id)
        ).first()
        or "-"
    )


# /tugas ---------------------------------------------------------------------------------------------------


def run_tasks(turn: Turn, command: Command) -> None:
    """What the contact holds, oldest first, each with one tap to update it."""
    contact = turn.contact
    assert contact is not None
    held = turn.session.scalars(
        select(Incident).where(Incident.acknowledged_by == contact.id).order_by(Incident.acknowledged_at)
    ).all()
    lines, choices = [], []
    for incident in held:
        reports = [r for r in open_reports(turn.session, incident) if r.status not in lifecycle.FINAL]
        if not reports:
            continue
        first = reports[0]
        found = places.place(first.region_code)
        lines.append(
            turn.t(
                "tasks.line",
                code=first.code,
                category=turn.t(f"category.{first.category}"),
                place=found.path if found else first.region_code,
                status=turn.t(f"report_status.{first.status}"),
                since=local_time(incident.acknowledged_at or first.created_at, first.region_code),
            )
        )
        choices.append(Choice(f"cmd:act:{first.code}", turn.t("tasks.update", code=first.code)))
    if not lines:
        turn.hint("tasks.none")
        return
    shown = lines[:MOST_LISTED]
    more = turn.t("tasks.more", count=len(lines) - MOST_LISTED) if len(lines) > MOST_LISTED else ""
    turn.send(turn.t("tasks.list", lines="\n".join(shown), more=more), choices[:MOST_LISTED])


# /tindak KODE ---------------------------------------------------------------------------------------------


def held_incident(turn: Turn, raw: str) -> Incident | None:
    """The incident of a code the sender holds; None, with the reason told, otherwise."""
    code = normalise_code(raw) or find_code(raw)
    if code is None:
        turn.hint("status.bad_code")
        return None
    found = turn.session.scalar(select(Report).where(Report.code == code))
    incident = turn.session.get(Incident, found.incident_id) if found and found.incident_id else None
    if incident is None:
        turn.hint("status.not_found", code=code)
        return None
    if incident.acknowledged_by != (turn.contact.id if turn.contact else None):
        turn.hint("act.not_yours", code=code)
        return None
    if not open_reports(turn.session, incident):  # a report found false may still be closed
        turn.hint("act.closed", code=code)
        return None
    return incident


def run_act(turn: Turn, command: Command) -> None:
    """The holder moves a report on: the code given, or asked for."""
    if not command.argument:
        start_flow(turn, ACT_FLOW)
        return
    incident = held_incident(turn, command.argument)
    if incident is not None:
        turn.conversation.flow, turn.conversation.step = ACT_FLOW.name, "status"
        turn.state = {"incident": incident.id}
        ACT_FLOW.step("status").ask(turn)


def ask_code(turn: Turn) -> None:
    """Which report?"""
    turn.say("act.ask_code")


def take_code(turn: Turn) -> str | None:
    """A code the sender holds moves on to the status."""
    incident = held_incident(turn, turn.answer_text)
    if incident is None:
        return STAY
    turn.state["incident"] = incident.id
    return "status"


def _current(turn: Turn) -> Report | None:
    incident = turn.session.get(Incident, turn.state.get("incident"))
    reports = open_reports(turn.session, incident) if incident else []
    return reports[0] if reports else None


def _status_choices(turn: Turn) -> list[Choice]:
    current = _current(turn)
    allowed = [s for s in ONWARD if current is not None and lifecycle.may_move(current.status, s)]
    return [Choice(f"act:{s}", turn.t(f"act.to.{s}")) for s in allowed]


def ask_status(turn: Turn) -> None:
    """Where the report stands now, and where it can go."""
    current = _current(turn)
    status = turn.t(f"report_status.{current.status}") if current else "-"
    turn.say("act.ask_status", _status_choices(turn), code=current.code if current else "-", status=status)


def take_status(turn: Turn) -> str | None:
    """Keeps the new status; a note comes next."""
    choice = turn.chosen(_status_choices(turn))
    if choice is None:
        turn.hint("common.pick_option")
        return STAY
    turn.state["to"] = value_of(choice)
    return "note"


def ask_note(turn: Turn) -> None:
    """A short note for the coordinators; never shown to the reporter."""
    turn.say("act.ask_note", status=turn.t(f"act.to.{turn.state['to']}"))


def take_note(turn: Turn) -> str | None:
    """Every status change carries a note."""
    note = turn.answer_text[:MAX_NOTE]
    if not note:
        turn.hint("common.need_text")
        return STAY
    turn.state["note"] = note
    return FINISH


def finish_act(turn: Turn) -> None:
    """Move every open report of the incident on, tell each reporter, and restart the follow-up clock."""
    incident = turn.session.scalars(
        select(Incident).where(Incident.id == turn.state["incident"]).with_for_update()
    ).first()
    to = turn.state["to"]
    moved = [
        r
        for r in (open_reports(turn.session, incident) if incident else [])
        if lifecycle.move(turn.session, r, to, now=turn.now, note=turn.state["note"], contact=turn.contact)
    ]
    if incident is None or not moved:
        turn.hint("act.not_moved")
        return
    incident.followups = 0
    if to in lifecycle.FINAL:
        turn.session.execute(
            update(Timer)
            .where(Timer.incident_id == incident.id, Timer.kind == FOLLOWUP, Timer.fired_at.is_(None))
            .values(fired_at=turn.now)
        )
    else:
        schedule_followup(turn.session, incident, turn.now, turn.policy)
    turn.hint("act.done", code=moved[0].code, status=turn.t(f"report_status.{to}"), count=len(moved))


ACT_FLOW = Flow(
    name="act",
    first="code",
    finish=finish_act,
    steps={
        "code": Step("code", ask_code, take_code, "act.help"),
        "status": Step("status", ask_status, take_status, "act.help"),
        "note": Step("note", ask_note, take_note, "act.help"),
    },
)


# Follow-up reminders ---------------------------------------------------------------------------------------


def fire(session: Session, timer: Timer, *, now: datetime, policy: Policy) -> None:
    """Remind the holder of an open report; after FOLLOWUP_ESCALATE_AFTER reminders, tell the coordinators."""
    incident = session.scalars(
        select(Incident).where(Incident.id == timer.incident_id).with_for_update()
    ).first()
    if incident is None or incident.acknowledged_by is None:
        return
    reports = [r for r in open_reports(session, incident) if r.status not in lifecycle.FINAL]
    holder = session.get(Contact, incident.acknowledged_by)
    if not reports or holder is None:
        return
    first = reports[0]
    language = language_of(session, holder)
    status = text(language, f"report_status.{first.status}")
    to_contact(
        session,
        holder,
        Reply(
            text(language, "followup.reminder", code=first.code, status=status),
            (Choice(f"cmd:act:{first.code}", text(language, "tasks.update", code=first.code)),),
        ),
        now=now,
        policy=policy,
        purpose="reminder",
        priority=BULK,
        template=Template(
            policy.reminder_template, "TWILIO_TEMPLATE_REMINDER", {"1": holder.name, "2": first.code}
        ),
        incident_id=incident.id,
    )
    incident.followups += 1
    if incident.followups == policy.followup_escalate_after:
        found = places.place(first.region_code)
        for coordinator in coordinators_for(session, first.region_code):
            body = text(
                language_of(session, coordinator),
                "followup.coordinators",
                code=first.code,
                place=found.path if found else first.region_code,
                name=holder.name,
                count=incident.followups,
            )
            to_contact(
                session,
                coordinator,
                Reply(body),
                now=now,
                policy=policy,
                purpose="reminder",
                priority=ALERT,
                incident_id=incident.id,
            )
        logger.info(
            "incident %s: no news after %d reminders; coordinators told", incident.id, incident.followups
        )
    schedule_followup(session, incident, now, policy)
