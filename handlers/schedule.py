"""What happens at a time: durable timers and cron schedules, each fired once however many processes run.

Timers are rows (an escalation, a draft reminder, a check-in reminder, a follow-up); whichever process
finds one due claims it with a compare-and-set and fires it. Cron schedules (CHECKIN_SCHEDULE) are read
with APScheduler's CronTrigger; the last round run is a row too, claimed the same way, so a round that
fell due while the bot was down runs once after start if it is still within ROUND_GRACE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import JAKARTA
from handlers import drafts, lifecycle
from handlers.alerts import escalation
from handlers.alerts.policy import Policy
from handlers.coordinators import broadcast
from handlers.pioneers import checkins, tasks
from models.db import Database, dialect_insert
from models.tables import Schedule, Timer

logger = logging.getLogger(__name__)

# A round found overdue by more than this (the bot was down for days) is skipped, not sent late.
ROUND_GRACE = timedelta(hours=12)
CHECKIN_ROUND = "checkin"

_FIRE: dict[str, Callable[..., None]] = {
    escalation.ESCALATE: escalation.fire,
    lifecycle.FOLLOWUP: tasks.fire,
    broadcast.SUMMARY: broadcast.fire,
    **{kind: checkins.fire for kind in checkins.KINDS},
    **{
        kind: lambda session, timer, *, now, policy: drafts.fire(
            session, timer, now=now, remind_after=policy.draft_reminder
        )
        for kind in drafts.KINDS
    },
}


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
            handler = _FIRE.get(timer.kind)
            if handler is None:
                logger.error("timer %s has an unknown kind %r; left fired", timer.id, timer.kind)
            else:
                handler(session, timer, now=now, policy=policy)
            fired += 1
    return fired


def due_round(session: Session, name: str, cron: str, now: datetime) -> datetime | None:
    """Claim the schedule's newest round due by now, once; None when there is none to run.

    The first time a schedule is seen it starts counting from now: a fresh install sends nothing at once.
    """
    session.execute(
        dialect_insert(session)(Schedule)
        .values(name=name, last_due_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    last = session.scalar(select(Schedule.last_due_at).where(Schedule.name == name))
    if last is None:
        return None
    trigger = CronTrigger.from_crontab(cron, timezone=JAKARTA)
    due = None
    moment = trigger.get_next_fire_time(None, last + timedelta(seconds=1))
    while moment is not None and moment <= now:
        due = moment  # rounds missed while the bot was down are one round, not many
        moment = trigger.get_next_fire_time(due, due + timedelta(seconds=1))
    if due is None:
        return None
    claimed = session.execute(
        update(Schedule).where(Schedule.name == name, Schedule.last_due_at == last).values(last_due_at=due)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None  # another process took it
    if now - due > ROUND_GRACE:
        logger.warning(
            "schedule %s: the round due %s was missed by more than %s; skipped", name, due, ROUND_GRACE
        )
        return None
    return due


def run_rounds(db: Database, *, now: datetime, policy: Policy) -> int:
    """Ask every pioneer how their area is when CHECKIN_SCHEDULE says so; how many were asked."""
    with db.transaction() as session:
        due = due_round(session, CHECKIN_ROUND, policy.checkin_schedule, now)
        if due is None:
            return 0
        asked = checkins.ask_everyone(session, "", now=now, policy=policy)
        logger.info("check-in round due %s: %d pioneers asked", due.isoformat(), asked)
        return asked


def fire_due(db: Database, *, now: datetime, policy: Policy) -> int:
    """Everything due now: the schedules' rounds, then the timers."""
    return run_rounds(db, now=now, policy=policy) + fire_due_timers(db, now=now, policy=policy)
