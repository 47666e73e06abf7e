"""The engine in a process of its own beside the one that polls and sends (ENGINE_PROCESS=1).

A Python process runs on one core at a time. Polling, sending and the engine's turns shared one, while a
second core stood idle: with the engine in its own process, the polling process sends one page's replies
while the engine takes the next page. Nothing changes in what is stored or when: the engine commits a
page's turns as before, and the replies it hands back are already marked as being sent, with a lease, so
if either process dies a claim sends them after the lease, as it would after any crash.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from bot.dispatcher import outgoing
from config.settings import Settings
from handlers.engine import Handled
from handlers.messages import Inbound

logger = logging.getLogger(__name__)

# How long the engine process may take to start (imports, migrations checked, place indexes built).
START_SECONDS = 60.0


class EngineFailed(Exception):
    """The engine process could not handle a page (or is gone): the page is fetched again later."""


@dataclass
class _Collected:
    """The engine process's handoff: it takes what the polling process's dispatcher sends on."""

    channels: frozenset[str]
    lease: timedelta
    # What the polling process's dispatcher had under way when it sent the page.
    under_way: frozenset[int] = frozenset()

    def accepts(self, channel: str) -> bool:
        return channel in self.channels

    def sending_now(self, ids: list[int]) -> bool:
        # Those it had under way it finishes first, and what is handed over follows them; should one of
        # them be retried, what follows goes back to the outbox behind it (`Dispatcher._send_after`).
        return all(id_ in self.under_way for id_ in ids)

    def prepare(self, message: Any) -> Any:
        return outgoing(message, message.attempts)

    def take(self, prepared: list[Any]) -> None:
        """Nothing here: the replies go back to the polling process with the page's answer."""


class EngineProcess:
    """Hands pages of messages to the engine in a child process and gets back what to send."""

    def __init__(self, settings: Settings, channels: Iterable[str], lease: timedelta) -> None:
        self._settings = settings
        self._channels = frozenset(channels)
        self._lease = lease
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._lock = threading.Lock()  # one page at a time: a person's messages stay in order

    def start(self) -> None:
        """Start the child and wait until it is ready to take messages."""
        context = multiprocessing.get_context("spawn")  # no copy of this process's threads and sockets
        mine, theirs = context.Pipe()
        self._process = context.Process(
            target=_work,
            args=(self._settings, self._channels, self._lease, theirs),
            name="engine",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        if not mine.poll(START_SECONDS) or mine.recv() != "ready":
            self.stop()
            raise EngineFailed("the engine process did not start")
        self._connection = mine

    async def handle_many(
        self, inbounds: Sequence[Inbound], *, within: float | None, under_way: frozenset[int] = frozenset()
    ) -> Handled:
        """`Engine.handle_many` in the child; raises `EngineFailed` where that would raise.

        A child that died is started again first: the page it was handling is fetched again, and what it
        had committed of it is known as handled then.
        """
        return await asyncio.to_thread(self._ask, list(inbounds), within, under_way)

    def _ask(self, inbounds: list[Inbound], within: float | None, under_way: frozenset[int]) -> Handled:
        with self._lock:
            if self._connection is None:
                logger.warning("the engine process is gone; starting it again")
                self.stop()
                self.start()
            assert self._connection is not None
            try:
                self._connection.send((inbounds, within, under_way))
                answer = self._connection.recv()
            except (EOFError, OSError) as error:
                self._connection = None
                raise EngineFailed("the engine process is gone") from error
        if isinstance(answer, str):
            raise EngineFailed(answer)
        results, failure, handed, others_queued = answer
        return Handled(
            results=results,
            failure=EngineFailed(failure) if failure else None,
            handed=handed,
            others_queued=others_queued,
        )

    def stop(self) -> None:
        """Let the child finish its page and end."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
            self._process = None


def _work(settings: Settings, channels: frozenset[str], lease: timedelta, connection: Connection) -> None:
    """The child: handle each page it is sent until the polling process closes the pipe."""
    from bot import logs
    from bot.app import build
    from handlers import places

    logs.setup(
        settings.log_level,
        [settings.telegram_bot_token, settings.twilio_auth_token, settings.telegram_webhook_secret],
    )
    engine = build(settings, {}).engine
    handoff = _Collected(channels, lease)
    engine.handoff = handoff
    engine.notify = lambda: None  # the polling process wakes its dispatcher when told `others_queued`
    places.warm()
    connection.send("ready")
    while True:
        try:
            inbounds, within, handoff.under_way = connection.recv()
        except (EOFError, OSError):
            return
        try:
            handled = engine.handle_many(inbounds, within=within)
        except Exception as error:  # the page is fetched again; logged there, with its cause
            logger.exception("the engine process could not handle a page")
            connection.send(f"{type(error).__name__}")
            continue
        failure = type(handled.failure).__name__ if handled.failure is not None else None
        connection.send((handled.results, failure, handled.handed, handled.others_queued))
