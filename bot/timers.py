"""Fires the durable timers kept in the database; APScheduler only decides when to look."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import delivery_reports
from bot.app import App
from bot.logs import Outage
from handlers import documents, privacy
from handlers.schedule import fire_due
from models.base import utcnow
from models.db import Database

logger = logging.getLogger(__name__)

CHECK_SECONDS = 5
HOUSEKEEPING_SECONDS = 3600


def fire(app: App) -> int:
    """Fire what is due now; several processes may do this at once and each timer still fires once."""
    fired = fire_due(app.db, now=utcnow(), policy=app.engine.policy)
    if fired:
        logger.info("fired %d timers", fired)
        app.wake_dispatcher()
    return fired


_outage = Outage(logger, "firing timers")


async def fire_async(app: App) -> None:
    try:
        await asyncio.to_thread(fire, app)
        _outage.succeeded()
    except Exception as error:
        _outage.failed(error)


def housekeep(db: Database, retention_days: int, media_dir: str = "media") -> None:
    """What must not be kept: reporters' details past RETENTION_DAYS, old files, stray delivery reports."""
    now = utcnow()
    with db.transaction() as session:
        privacy.expire(session, now, retention_days)
        delivery_reports.forget_old(session, now)
        documents.remove_expired(session, now)
        documents.remove_strays(session, media_dir, now)


_housekeeping_outage = Outage(logger, "housekeeping")


async def housekeep_async(app: App) -> None:
    try:
        policy = app.engine.policy
        await asyncio.to_thread(housekeep, app.db, policy.retention_days, policy.media_dir)
        _housekeeping_outage.succeeded()
    except Exception as error:
        _housekeeping_outage.failed(error)


def start(app: App, every_seconds: float = CHECK_SECONDS) -> AsyncIOScheduler:
    """Check at once, so what fell due while the bot was down fires on start, then regularly."""
    scheduler = AsyncIOScheduler()
    # Housekeeping is idempotent, so several processes doing it at once do no harm.
    for job, seconds in ((fire_async, every_seconds), (housekeep_async, HOUSEKEEPING_SECONDS)):
        scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            args=[app],
            next_run_time=utcnow(),
            max_instances=1,
            coalesce=True,
            id=job.__name__,
        )
    scheduler.start()
    return scheduler
