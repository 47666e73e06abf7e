"""Shared fixtures: a fresh database on SQLite and on PostgreSQL, the fake providers, and a chat driver."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fakes.fixtures import fake_telegram, fake_twilio  # noqa: F401  (fixtures)
from sqlalchemy import text

from models.base import Base
from models.db import Database

RESTART_SEQUENCES = """
SELECT setval(c.oid, 1, false) FROM pg_class c
WHERE c.relkind = 'S' AND c.relnamespace = current_schema()::regnamespace
"""
POSTGRES = os.environ.get("TEST_POSTGRES", "host=127.0.0.1 port=5432 dbname=test user=postgres")


def _postgres_reachable() -> bool:
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private schema in the test database for this run; CI must have PostgreSQL, elsewhere it may skip."""
    if not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI is set")
        pytest.skip("PostgreSQL is not reachable and CI is unset")
    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    params = dict(part.split("=", 1) for part in POSTGRES.split())
    yield (
        f"postgresql+psycopg://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
        f"?options=-csearch_path%3D{schema}"
    )
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite file brought up by the migrations once, copied for each test (0.2 s each saved)."""
    path = tmp_path_factory.mktemp("template") / "bot.db"
    Database(f"sqlite:///{path}").dispose()  # the last connection closing folds the WAL into the file
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A URL to an empty, migrated database, once per backend."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "bot.db")
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    db = Database(url)
    # DELETE, children first, and every sequence back to 1: a test leaves few rows, and TRUNCATE of every
    # table took 0.12-0.15 s a test against 0.02-0.04 s.
    with db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(text(RESTART_SEQUENCES))
    db.dispose()
    yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The database, opened the way the bot opens it (migrations included)."""
    database = Database(database_url)
    yield database
    database.dispose()
