"""Telegram long polling: an update is confirmed to Telegram only after the engine has stored it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot
from telegram.error import TelegramError

from bot import media, timers
from bot.app import App
from bot.channels import telegram

logger = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 25
RETRY_SECONDS = 3.0


async def poll(app: App, bot: Bot, stop: asyncio.Event, *, timeout: int = POLL_TIMEOUT_SECONDS) -> None:
    """Fetch updates and hand each to the engine; a failure means the same update is fetched again."""
    offset: int | None = None
    await bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
    while not stop.is_set():
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=timeout, allowed_updates=telegram.ALLOWED_UPDATES
            )
        except TelegramError as error:
            logger.warning("getUpdates failed: %s; trying again", type(error).__name__)
            await _pause(stop, RETRY_SECONDS)
            continue
        for update in updates:
            try:
                inbound = telegram.parse_update(update)
            except (AttributeError, KeyError, TypeError, ValueError):
                logger.warning("telegram update that is not one skipped")
                inbound = None
            if inbound is not None:
                try:
                    inbound = await media.fetched(inbound, app.settings, bot)
                    await asyncio.to_thread(app.engine.handle, inbound)
                except Exception:
                    logger.exception("could not handle a Telegram update; it will be fetched again")
                    await _pause(stop, RETRY_SECONDS)
                    break
                await telegram.acknowledge_button(bot, update)
            offset = update.update_id + 1


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_polling(app: App, bot: Bot, stop: asyncio.Event) -> None:
    """Poll and dispatch side by side until stopped."""
    app.loop = asyncio.get_running_loop()
    await bot.initialize()
    dispatching = asyncio.create_task(app.dispatcher.run(stop))
    scheduler = timers.start(app)
    try:
        await poll(app, bot, stop)
    finally:
        scheduler.shutdown(wait=False)
        stop.set()
        app.dispatcher.wake.set()
        await dispatching
        await bot.shutdown()
