"""Webhook messages stored first and handled after, so Telegram and Twilio hear back within milliseconds.

A webhook's answer once depended on the work behind it: 200 posts at once took one to two seconds each,
and Twilio gives up after fifteen. Now a post is answered once its message is committed here (with the
others arriving meanwhile, in one transaction), and a worker hands what waits to the engine in batches,
each person's messages in the order they came. A message that fails waits and comes again; a restart
finds what is stored and handles it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from bot.logs import Outage
from handlers.engine import Engine
from handlers.messages import Inbound, from_stored, stored
from models.base import utcnow
from models.db import Database
from models.tables import WaitingMessage

logger = logging.getLogger(__name__)

# Messages taken in one transaction, and how long it may go on before it commits: replies wait for the
# commit, and on SQLite a webhook storing its message waits for the same write lock.
BATCH = 100
COMMIT_EVERY_SECONDS = 0.05
# A message that failed waits this long before it comes again, doubling up to the cap.
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 300.0


class Inbox:
    """Stores messages for the webhooks and hands them to the engine, in a worker of this process."""

    def __init__(self, db: Database, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.engine = engine
        self.clock = clock
        self.batch = BATCH
        self.within = COMMIT_EVERY_SECONDS
        self.wake = asyncio.Event()
        self._unstored: list[tuple[Inbound, asyncio.Future[None]]] = []
        self._closed = False

    # Storing ------------------------------------------------------------

    async def put(self, inbound: Inbound) -> None:
        """Store one message, in one transaction with those arriving meanwhile; returns once committed.

        The worker stores them between two batches of its own, so on SQLite a webhook never fights the
        worker for the write lock (SQLite's waiters poll, and a busy worker would win every time).
        """
        if self._closed:
            raise NotTaking("the inbox has stopped")
        committed = asyncio.get_running_loop().create_future()
        self._unstored.append((inbound, committed))
        self.wake.set()
        await committed

    def _store(self, inbounds: list[Inbound]) -> None:
        now = self.clock()
        rows = [
            {
                "channel": i.channel,
                "address": i.address,
                "message": stored(i),
                "attempts": 0,
                "next_attempt_at": now,
                "received_at": now,
            }
            for i in inbounds
        ]
        with self.db.transaction() as session:
            session.execute(insert(WaitingMessage), rows)

    # Handling ------------------------------------------------------------

    def claim(self, session: Session) -> list[Any]:
        """Due messages, oldest first; a person's only as the unbroken start of what waits for them."""
        due = (
            select(WaitingMessage.id, WaitingMessage.channel, WaitingMessage.address, WaitingMessage.message)
            .where(WaitingMessage.next_attempt_at <= self.clock())
            .order_by(WaitingMessage.id)
            .limit(self.batch)
        )
        if self.db.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)  # another process takes other people's
        rows = list(session.execute(due))
        if not rows:
            return []
        waiting: dict[tuple[str, str], list[int]] = defaultdict(list)
        for id_, channel, address in session.execute(
            select(WaitingMessage.id, WaitingMessage.channel, WaitingMessage.address)
            .where(WaitingMessage.address.in_({r.address for r in rows}))
            .order_by(WaitingMessage.id)
        ):
            waiting[(channel, address)].append(id_)
        mine = {r.id for r in rows}
        taken: set[int] = set()
        for ids in waiting.values():
            for id_ in ids:
                if id_ not in mine:
                    break  # one waiting longer (failed, or taken by another process) goes first
                taken.add(id_)
        return [r for r in rows if r.id in taken]

    def handle_waiting(self) -> int:
        """Handle one batch in one transaction; how many messages were taken (0: none due)."""
        with self.db.transaction() as session:
            rows = self.claim(session)
            if not rows:
                return 0
            handled = self.engine.handle_in(
                session, [from_stored(r.message) for r in rows], within=self.within
            )
            done = [r.id for r in rows[: len(handled.results)]]
            if done:
                session.execute(delete(WaitingMessage).where(WaitingMessage.id.in_(done)))
            if handled.failure is not None:
                self._later(session, rows[len(handled.results)].id)
        self.engine.committed(handled)
        return len(rows)

    def _later(self, session: Session, id_: int) -> None:
        """A message that failed: again after a pause, longer each time; the person's later ones wait."""
        attempts = session.scalar(select(WaitingMessage.attempts).where(WaitingMessage.id == id_)) or 0
        delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**attempts)
        session.execute(
            update(WaitingMessage)
            .where(WaitingMessage.id == id_)
            .values(attempts=attempts + 1, next_attempt_at=self.clock() + timedelta(seconds=delay))
        )

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Store and handle for as long as the process runs; woken when a webhook brings a message."""
        loop = asyncio.get_running_loop()
        outage = Outage(logger, "inbox round")
        try:
            while not stop.is_set():
                self.wake.clear()
                arrived, self._unstored = self._unstored, []
                try:
                    taken, error = await asyncio.to_thread(self._round, arrived, loop)
                except Exception as failed:  # not stored: those webhooks answer 503, sent again later
                    _settle(arrived, failed)
                    taken, error = 0, failed
                if error is None:
                    outage.succeeded()
                else:
                    outage.failed(error)
                if taken or self._unstored:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=idle_seconds)
        finally:
            self._closed = True
            arrived, self._unstored = self._unstored, []
            if arrived:
                try:
                    await asyncio.to_thread(self._store, [inbound for inbound, _ in arrived])
                except Exception as failed:
                    _settle(arrived, failed)
                else:
                    _settle(arrived)

    def _round(
        self, arrived: list[tuple[Inbound, asyncio.Future[None]]], loop: asyncio.AbstractEventLoop
    ) -> tuple[int, Exception | None]:
        """Store what arrived (its webhooks answered as soon as that commits), then handle one batch."""
        if arrived:
            self._store([inbound for inbound, _ in arrived])
            loop.call_soon_threadsafe(_settle, arrived)
        try:
            return self.handle_waiting(), None
        except Exception as error:
            return 0, error


class NotTaking(Exception):
    """The process is stopping: the webhook answers 503 and the provider delivers again."""


def _settle(arrived: list[tuple[Inbound, asyncio.Future[None]]], error: Exception | None = None) -> None:
    for _, committed in arrived:
        if not committed.done():
            if error is None:
                committed.set_result(None)
            else:
                committed.set_exception(error)
