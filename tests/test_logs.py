"""No personal data in any log line from any library: numbers, names, tokens, statement values.

Each test here fails if the masking is taken off the logs, or if SQLAlchemy puts a statement's values
into its error text again.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from bot import logs
from bot.logs import Outage
from models.db import Database
from models.tables import Contact

NUMBER = "081234567890"
TOKEN = "123456:AAE-fake-bot-token-for-the-test"


def test_messages_and_tracebacks_are_masked_whoever_logs_them(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("INFO", [TOKEN])
    try:
        raise ValueError(f"could not reach {NUMBER} at https://api.telegram.org/bot{TOKEN}/sendMessage")
    except ValueError:
        # uvicorn's "Exception in ASGI application" goes through the same handlers (serve: log_config=None).
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("handlers.engine").info("reporter %s wrote", NUMBER)
    logged = capsys.readouterr().err
    assert "Exception in ASGI application" in logged and "ValueError" in logged
    assert NUMBER not in logged
    assert TOKEN not in logged


def test_database_errors_carry_no_values_into_the_log(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.setup("INFO")
    number, name = "+6281234567890", "Bu Sri Rahayu"
    with db.transaction() as session:
        session.add(Contact(name="Pak Budi", role="pelopor", region_code="35.09.21", whatsapp=number))
    with pytest.raises(IntegrityError) as caught, db.transaction() as session:
        session.add(Contact(name=name, role="pelopor", region_code="35.09.21", whatsapp=number))
    assert name not in str(caught.value)  # hide_parameters: the statement's values stay out
    try:
        raise caught.value
    except IntegrityError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logged = capsys.readouterr().err
    assert "IntegrityError" in logged
    # PostgreSQL names the clashing key's value itself; the log's masking catches the number.
    assert number not in logged and name not in logged


def test_a_long_outage_logs_one_traceback_then_a_line_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    seconds = iter(range(0, 10_000))
    outage = Outage(
        logging.getLogger("bot.dispatcher"), "dispatcher round", clock=lambda: float(next(seconds))
    )
    with caplog.at_level(logging.INFO):
        for _ in range(150):  # a round a second for two and a half minutes
            try:
                raise OSError("database unreachable")
            except OSError as error:
                outage.failed(error)
        outage.succeeded()
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1
    assert len(caplog.records) == 1 + 2 + 1  # the first, one a minute, the recovery
    assert "works again after 150 failed tries" in caplog.records[-1].getMessage()
