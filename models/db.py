"""One engine per process, SQLite in WAL mode or PostgreSQL, with the schema brought up to date on start."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL advisory lock taken while migrating, so two processes never migrate at once.
MIGRATION_LOCK = 7_320_417


# An execution option: the transaction only reads (see `Database.reading`).
READING = "reading_only"
# How often a SQLite write transaction asks again for the write lock another connection holds.
WRITE_LOCK_POLL_SECONDS = 0.001


def normalise_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` forms hosting providers hand out."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def postgresql_options(url: str, statement_timeout: float | None) -> dict[str, str]:
    """Connection options that make a hung statement or lock fail after `statement_timeout` seconds.

    Options already in the URL (such as a search_path) are kept: connect_args would replace them.
    """
    if not statement_timeout:
        return {}
    ms = int(statement_timeout * 1000)
    given = make_url(url).query.get("options") or ""
    if not isinstance(given, str):
        given = " ".join(given)
    return {"options": f"{given} -c statement_timeout={ms} -c lock_timeout={ms}".strip()}


def make_engine(url: str, statement_timeout: float | None = None) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and write-locking transactions.

    With `statement_timeout` (seconds) no call waits longer than that for the database: PostgreSQL
    cancels the statement, SQLite stops waiting for the write lock, the pool stops waiting for a
    connection. Without it (command-line jobs) SQLite waits up to 30 s and PostgreSQL for ever.
    """
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        # hide_parameters: an error's text never carries a statement's values (a number, a story) into a log.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            pool_timeout=statement_timeout or 30,
            hide_parameters=True,
            # PostgreSQL's own $1 placeholders, sent as they are by psycopg's raw cursors: with its
            # default %(name)s style psycopg parses every statement, and caches none over 50 parameters
            # or 4 KB, so a page's multi-row inserts were parsed anew each time (a sixth of its CPU).
            paramstyle="numeric_dollar",
            connect_args=postgresql_options(url, statement_timeout) | {"cursor_factory": psycopg.RawCursor},
        )

        @event.listens_for(engine, "connect")
        def _on_connect_postgresql(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # The same placeholders for the server-side cursors of `yield_per` (the exports).
            dbapi_connection.server_cursor_factory = psycopg.RawServerCursor

        return engine

    wait = statement_timeout or 30
    engine = create_engine(
        url, connect_args={"timeout": wait, "check_same_thread": False}, hide_parameters=True
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE itself, see below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # A deferred transaction that reads, then writes, fails at once when another process wrote in
        # between; taking the write lock up front makes it wait its turn instead.
        if conn.get_execution_options().get(READING):
            conn.exec_driver_sql("BEGIN")
        else:
            _begin_writing(conn, wait)

    return engine


def _begin_writing(conn, wait: float) -> None:  # type: ignore[no-untyped-def]
    """BEGIN IMMEDIATE, asking again every millisecond while another connection writes.

    SQLite's own busy handler sleeps ever longer between tries, up to 100 ms, and a writer that comes
    back often (the engine, page after page) slips in between: the dispatcher recording what it sent
    waited up to half a second for transactions of a few milliseconds, and a person's next reply with it.
    """
    raw = conn.connection.dbapi_connection
    deadline = time.monotonic() + wait
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
            time.sleep(WRITE_LOCK_POLL_SECONDS)
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the last try, failing as SQLAlchemy reports it
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")


@contextmanager
def flushing_only(session: Session, *kinds: type) -> Iterator[None]:
    """Query tables of `kinds` seeing this transaction's writes to them, without flushing all the rest.

    A page of turns shares one flush; a query through the session would flush every turn's writes so
    far first. Only when objects of these kinds wait to be written, or were changed, is it done.
    """
    if any(isinstance(obj, kinds) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.flush()
    with session.no_autoflush:
        yield


def dialect_insert(session: Session):  # type: ignore[no-untyped-def]
    """The dialect's INSERT, which knows ON CONFLICT on both SQLite and PostgreSQL."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def per_dialect(build: Callable[[Any], T]) -> dict[Any, T]:
    """A statement with ON CONFLICT built once for each dialect, looked up by `dialect_insert(session)`."""
    return {insert: build(insert) for insert in (pg_insert, sqlite_insert)}


# Where a session notes the kinds of objects it has flushed (`changed`).
WRITTEN = "written_kinds"


@event.listens_for(Session, "before_flush")
def _note_written(session: Session, flush_context: object, instances: object) -> None:
    written = session.info.setdefault(WRITTEN, set())
    written.update(type(obj) for obj in (*session.new, *session.dirty, *session.deleted))


def changed(session: Session, kind: type) -> bool:
    """Whether objects of `kind` were written in this session, or wait to be: read before, they may differ."""
    return kind in session.info.get(WRITTEN, ()) or any(
        isinstance(obj, kind) for obj in (*session.new, *session.dirty, *session.deleted)
    )


# Where a page's transaction keeps reads its turns would each repeat (`remembered`).
REMEMBERED = "remembered_reads"


@contextmanager
def remembering(session: Session) -> Iterator[None]:
    """Reads done once for the turns of a page instead of once a turn, for as long as the page lasts."""
    session.info[REMEMBERED] = {}
    try:
        yield
    finally:
        session.info.pop(REMEMBERED, None)


def remembered(session: Session, key: Hashable, read: Callable[[], T], *, unless: tuple[type, ...] = ()) -> T:
    """`read()`, or what it gave earlier in this page while no object of the kinds `unless` was written.

    Outside a page (`remembering`) it is read every time. A rollback, even of one savepoint, and any
    bulk write through the session forget everything remembered, as it may not be true any more.
    """
    memo = session.info.get(REMEMBERED)
    if memo is None or any(changed(session, kind) for kind in unless):
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


def remember(session: Session, key: Hashable, value: object) -> None:
    """What a turn learnt that the page's next turns would otherwise read (`remembered`)."""
    memo = session.info.get(REMEMBERED)
    if memo is not None:
        memo[key] = value


def unremember(session: Session, key: Hashable) -> None:
    """A turn changed what `key` was read from: the next turn reads it again."""
    session.info.get(REMEMBERED, {}).pop(key, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: object) -> None:
    session.info.get(REMEMBERED, {}).clear()


@event.listens_for(Session, "do_orm_execute")
def _forget_on_bulk_write(state: Any) -> None:
    if not state.is_select:
        state.session.info.get(REMEMBERED, {}).clear()


def upgrade_schema(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # A migration may take long on a large table, and waits for another process's migration.
            connection.execute(text("SET LOCAL statement_timeout = 0"))
            connection.execute(text("SET LOCAL lock_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    """The engine and a session factory, handed to everything that reads or writes."""

    def __init__(self, url: str, *, migrate: bool = True, statement_timeout: float | None = None) -> None:
        self.url = normalise_url(url)
        self.statement_timeout = statement_timeout
        self.engine = make_engine(self.url, statement_timeout)
        if migrate:
            upgrade_schema(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed together or not at all."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it takes no write lock, so it never waits for a writer."""
        with self.sessions() as session:
            session.connection(execution_options={READING: True})
            yield session
            session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
