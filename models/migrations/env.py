"""Alembic environment: run against the connection the bot hands over, or DATABASE_URL for the CLI."""

from __future__ import annotations

from alembic import context

from models import tables  # noqa: F401  (registers the tables)
from models.base import Base

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from config.settings import Settings
        from models.db import make_engine

        engine = make_engine(Settings.load().database_url)
        with engine.begin() as connection:
            _migrate(connection)
        return
    _migrate(connection)


def _migrate(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
