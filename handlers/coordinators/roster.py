"""/pelopor [WILAYAH]: the region's pioneers, each with their last check-in, open tasks and reachability."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from handlers import lifecycle
from handlers.alerts.delivery import whatsapp_window_open
from handlers.commands.arguments import coordinators_region, region_of
from handlers.conversation import Turn
from handlers.coordinators.scope import inside
from handlers.localtime import local_time
from models.tables import PELOPOR, Checkin, Contact, Incident, Report

if TYPE_CHECKING:
    from handlers.commands.command import Command

MOST_SHOWN = 30


def run_roster(turn: Turn, command: Command) -> None:
    """Who the region's pioneers are, how their areas were last, what they hold, and how to reach them."""
    region = coordinators_region(turn, command.argument)
    if region is None:
        return
    in_region = (Contact.active.is_(True), Contact.role == PELOPOR, inside(Contact.region_code, region.code))
    # Counted by the database and only the shown ones loaded: a province has 100,000 pioneers.
    count = turn.session.scalar(select(func.count()).select_from(Contact).where(*in_region)) or 0
    if not count:
        turn.hint("coord.roster.none", place=region.path)
        return
    pioneers = list(
        turn.session.scalars(
            select(Contact)
            .where(*in_region)
            .order_by(Contact.region_code, Contact.name, Contact.id)
            .limit(MOST_SHOWN)
        )
    )
    ids = [p.id for p in pioneers]
    latest = {
        contact_id: (answer, at)
        for contact_id, answer, at in turn.session.execute(
            select(Checkin.contact_id, Checkin.answer, func.coalesce(Checkin.answered_at, Checkin.asked_at))
            .where(Checkin.contact_id.in_(ids), Checkin.answer.is_not(None))
            .order_by(Checkin.id)
        )
    }
    tasks = dict(
        turn.session.execute(
            select(Incident.acknowledged_by, func.count(func.distinct(Incident.id)))
            .join(Report, Report.incident_id == Incident.id)
            .where(Incident.acknowledged_by.in_(ids), Report.status.in_(tuple(lifecycle.OPEN)))
            .group_by(Incident.acknowledged_by)
        ).all()
    )
    lines = []
    for pioneer in pioneers:
        answer, at = latest.get(pioneer.id, (None, None))
        checkin = (
            turn.t(
                "coord.roster.checkin",
                answer=turn.t(f"coord.checkin.{answer}"),
                time=local_time(at, pioneer.region_code),
            )
            if answer
            else turn.t("coord.roster.never")
        )
        lines.append(
            turn.t(
                "coord.roster.line",
                id=pioneer.id,
                name=pioneer.name,
                place=region_of(pioneer.region_code).split(",")[0],
                checkin=checkin,
                tasks=tasks.get(pioneer.id, 0),
                reach=_reach(turn, pioneer),
            )
        )
    more = turn.t("tasks.more", count=count - MOST_SHOWN) if count > MOST_SHOWN else ""
    turn.send(turn.t("coord.roster.head", place=region.path, count=count) + "\n" + "\n".join(lines) + more)


def _reach(turn: Turn, pioneer: Contact) -> str:
    """Telegram, WhatsApp (open window or template only), SMS, or unreachable with the reason."""
    ways = []
    if pioneer.telegram_chat_id and not pioneer.unreachable_reason:
        ways.append("Telegram")
    if pioneer.whatsapp:
        open_now = whatsapp_window_open(turn.session, pioneer.whatsapp, turn.now)
        ways.append("WhatsApp" if open_now else turn.t("coord.roster.whatsapp_template"))
    if pioneer.sms:
        ways.append("SMS")
    return ", ".join(ways) if ways else turn.t("coord.roster.unreachable")
