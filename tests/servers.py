"""Shared by the end-to-end tests: serving the web app for real, waiting without fixed sleeps, and a clock."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import uvicorn
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp

from bot.channels.base import Sender
from bot.dispatcher import BACKOFF_CAP_SECONDS, Dispatcher
from bot.limits import Limits
from handlers.messages import Choice, Reply
from handlers.outbox import enqueue
from models.base import utcnow
from models.db import Database, normalise_url
from models.tables import OutboxMessage

T = TypeVar("T")


async def wait_until(predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll `predicate` every 0.05 s until it returns something truthy and return it; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)


def free_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1, so a URL can be known before the server starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


class _Server(uvicorn.Server):
    """Leaves signal handling to pytest, so Ctrl-C still stops the test run."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Run `app` with uvicorn (lifespan included) in this event loop; yields its base URL."""
    sock = sock or free_socket()
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: server.started or task.done(), timeout=10, what="uvicorn to start")
        if not server.started:
            task.result()  # raises what stopped it, if anything
            raise RuntimeError("uvicorn exited during startup (see the lifespan error above)")
        yield url_of(sock)
    finally:
        server.should_exit = True
        await task
        sock.close()


def count(db: Database, table: type) -> int:
    """Rows in a table."""
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


class Clock:
    """The dispatcher's idea of now, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Outbox:
    """A dispatcher sending through one real channel sender, the outbox it sends from, and its clock."""

    def __init__(self, db: Database, sender: Sender, **kw: Any) -> None:
        self.db = db
        self.channel = sender.channel
        self.clock = Clock()
        # No rate limits worth waiting for: these tests are about failures, not pacing.
        limits = Limits(per_channel={sender.channel: 1000}, per_chat={})
        self.dispatcher = Dispatcher(db, {sender.channel: sender}, limits, clock=self.clock, **kw)

    def queue(self, address: int | str, *texts: str, choices: tuple[Choice, ...] = ()) -> list[int]:
        """Put messages for one person in the outbox, as the engine does; their ids."""
        with self.db.transaction() as session:
            rows = [
                enqueue(
                    session,
                    channel=self.channel,
                    address=str(address),
                    reply=Reply(t, choices),
                    now=self.clock(),
                )
                for t in texts
            ]
            session.flush()
            return [row.id for row in rows]

    def row(self, message_id: int) -> OutboxMessage:
        with self.db.transaction() as session:
            return session.get(OutboxMessage, message_id)

    async def later(self, seconds: float = BACKOFF_CAP_SECONDS + 1) -> None:
        """Let time pass (by default longer than any backoff) and send whatever is due by then."""
        self.clock.advance(seconds)
        await self.dispatcher.drain()


@contextlib.contextmanager
def database_held(database_url: str) -> Iterator[None]:
    """Another client holds what every message needs: SQLite's write lock, or locks on the inbox and turns."""
    url = normalise_url(database_url)
    if make_url(url).get_backend_name() == "sqlite":
        other = sqlite3.connect(make_url(url).database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as other:
            other.execute(text("LOCK TABLE inbox, inbound_messages IN ACCESS EXCLUSIVE MODE"))
            yield
            other.rollback()
    finally:
        engine.dispose()
