"""Fires the durable timers kept in the database; APScheduler only decides when to look."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.logs import Outage
from handlers.schedule import fire_due
from models.base import utcnow

logger = logging.getLogger(__name__)

CHECK_SECONDS = 5


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


def start(app: App, every_seconds: float = CHECK_SECONDS) -> AsyncIOScheduler:
    """Check at once, so what fell due while the bot was down fires on start, then regularly."""
    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        fire_async,
        "interval",
        seconds=every_seconds,
        args=[app],
        next_run_time=utcnow(),
        max_instances=1,
        coalesce=True,
        id="timers",
    )
    scheduler.start()
    return scheduler
