"""Telegram long polling: an update is confirmed to Telegram only after the engine has stored it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from telegram.error import TelegramError

from bot import media, timers
from bot.app import App, warm_up
from bot.channels import telegram
from bot.engine_process import EngineFailed, EngineProcess
from handlers.messages import Inbound

logger = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 25
RETRY_SECONDS = 3.0
# A page's updates share a commit for at most this long, so the first replies are not held back by the rest.
COMMIT_EVERY_SECONDS = 0.05


async def poll(
    app: App, bot: telegram.TextBot, stop: asyncio.Event, *, timeout: int = POLL_TIMEOUT_SECONDS
) -> None:
    """Fetch updates and hand each to the engine; a failure means the same update is fetched again."""
    offset: int | None = None
    await bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
    while not stop.is_set():
        try:
            updates = await bot.fetch_updates(offset, timeout, telegram.ALLOWED_UPDATES)
        except TelegramError as error:
            logger.warning("getUpdates failed: %s; trying again", type(error).__name__)
            await _pause(stop, RETRY_SECONDS)
            continue
        offset, failed = await handle_page(app, bot, updates, offset)
        if failed:
            await _pause(stop, RETRY_SECONDS)  # it and those after it are fetched again


async def handle_page(
    app: App, bot: telegram.TextBot, updates: Sequence[Any], offset: int | None
) -> tuple[int | None, bool]:
    """One `getUpdates` page in few transactions, in order: the offset to confirm, and whether one failed."""
    inbounds: list[tuple[dict[str, Any], Inbound]] = []
    ids: list[int] = []
    for update in updates:
        found = telegram.update_from_json(update)
        if found is None:
            logger.warning("telegram update without a usable id skipped")  # cannot be confirmed
            continue
        ids.append(found["update_id"])
        try:
            inbound = telegram.parse_update(found)
        except (AttributeError, KeyError, TypeError, ValueError):
            logger.warning("telegram update that is not one skipped")
            inbound = None
        if inbound is not None:
            inbounds.append((found, inbound))
    try:
        fetched = [await media.fetched(inbound, app.settings, bot) for _, inbound in inbounds]
        handled = 0
        while handled < len(fetched):
            done = await app.handle_many(fetched[handled:], within=COMMIT_EVERY_SECONDS)
            handled += len(done.results)
            if done.failure is not None:
                break
    except Exception:
        logger.exception("could not handle a page of Telegram updates; it will be fetched again")
        handled = 0
    # Confirm every update before the first one not handled; those without a message need no handling.
    unhandled = inbounds[handled][0]["update_id"] if handled < len(inbounds) else None
    confirmed = [i for i in ids if unhandled is None or i < unhandled]
    await asyncio.gather(*(telegram.acknowledge_button(bot, u) for u, _ in inbounds[:handled]))
    if confirmed:
        offset = confirmed[-1] + 1
    return offset, unhandled is not None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


@contextlib.asynccontextmanager
async def engine_process(app: App) -> AsyncIterator[None]:
    """With ENGINE_PROCESS=1, the polled pages go to the engine in a process of its own meanwhile."""
    if not app.settings.engine_process:
        yield
        return
    engine = EngineProcess(app.settings, app.dispatcher.senders, app.lease)
    try:
        await asyncio.to_thread(engine.start)
    except EngineFailed as error:  # slower, but nothing is lost: this process handles the pages
        logger.error("ENGINE_PROCESS=1, but %s; handling messages in this process", error)
        yield
        return
    app.engine_process = engine
    try:
        yield
    finally:
        app.engine_process = None
        await asyncio.to_thread(engine.stop)


async def run_polling(app: App, bot: telegram.TextBot, stop: asyncio.Event) -> None:
    """Poll and dispatch side by side until stopped."""
    app.loop = asyncio.get_running_loop()
    await bot.initialize()
    dispatching = asyncio.create_task(app.dispatcher.run(stop))
    await warm_up()
    scheduler = timers.start(app)
    try:
        async with engine_process(app):
            await poll(app, bot, stop)
    finally:
        scheduler.shutdown(wait=False)
        stop.set()
        app.dispatcher.wake.set()
        await dispatching
        await bot.shutdown()
