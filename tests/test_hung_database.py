"""A hung database (a table locked by someone else): webhooks answer 503 soon, /healthz within a second."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fakes.twilio_api import SANDBOX_NUMBER, FakeTwilio, inbound_params, sign_twilio_request
from servers import count, database_held, free_socket, serve, url_of, wait_until
from sqlalchemy import text

from bot.app import build, whatsapp_sender
from bot.web import create_web_app
from config.settings import Settings
from models.tables import InboundMessage

PHONE = "+6281234567890"


async def test_a_hung_database_answers_503_soon_and_the_message_is_taken_when_it_is_back(
    database_url: str, fake_twilio: FakeTwilio
) -> None:
    sock = free_socket()
    settings = Settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_whatsapp_from=SANDBOX_NUMBER,
        twilio_api_url=fake_twilio.base_url,
        public_url=url_of(sock),
        db_statement_timeout_seconds=1.0,
    )
    app = build(settings, {"whatsapp": whatsapp_sender(settings)})
    params = inbound_params(PHONE, "halo")
    signature = {
        "X-Twilio-Signature": sign_twilio_request(
            fake_twilio.auth_token, url_of(sock) + "/whatsapp/webhook", params
        )
    }
    try:
        async with (
            serve(create_web_app(app, None), sock) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=60) as client,
        ):
            healthy = await client.get("/healthz")
            with database_held(database_url):
                started = time.monotonic()
                health = await client.get("/healthz")
                health_took = time.monotonic() - started
                started = time.monotonic()
                webhook = await client.post("/whatsapp/webhook", data=params, headers=signature)
                webhook_took = time.monotonic() - started
            # Twilio, told 503, delivers again; now it is taken and answered.
            again = await client.post("/whatsapp/webhook", data=params, headers=signature)
            await wait_until(lambda: fake_twilio.messages_to("whatsapp:" + PHONE), what="the welcome")
            stored = count(app.db, InboundMessage)
            recovered = await client.get("/healthz")
    finally:
        app.db.dispose()

    assert healthy.status_code == 200
    # Before: /healthz said 200 after 37 s and webhooks 500 after 30 s.
    assert (health.status_code, health.json()["status"]) == (503, "error")
    assert health_took < 5, health_took
    assert webhook.status_code == 503
    assert webhook_took < 10, webhook_took
    assert again.status_code == 200
    assert stored == 1
    assert "Selamat datang" in fake_twilio.messages_to("whatsapp:" + PHONE)[0]
    assert recovered.status_code == 200


@pytest.mark.parametrize("timeout", [None, 2.5])
def test_statement_timeout_is_set_on_postgresql_only_when_asked(
    postgres_url: str, timeout: float | None
) -> None:
    from models.db import Database

    db = Database(postgres_url, migrate=False, statement_timeout=timeout)
    try:
        with db.transaction() as session:
            shown = session.execute(text("SHOW statement_timeout")).scalar_one()
            schema = session.execute(text("SELECT current_schema()")).scalar_one()
    finally:
        db.dispose()
    assert shown == ("0" if timeout is None else "2500ms")
    # The URL's own options (here the test's schema) are kept beside the timeout.
    assert schema == postgres_url.rsplit("%3D", 1)[1]


def test_a_sqlite_writer_waits_its_turn_and_one_that_waits_too_long_is_told_the_database_is_locked(
    tmp_path: Path,
) -> None:
    import threading

    from sqlalchemy.exc import OperationalError

    from models.db import Database

    url = f"sqlite:///{tmp_path / 'turns.db'}"
    holder, waiter = Database(url), Database(url, migrate=False, statement_timeout=0.5)
    wrote: list[str] = []

    def write(who: str) -> None:
        with waiter.transaction() as session:
            session.execute(text("INSERT INTO alembic_version VALUES (:who)"), {"who": who})
        wrote.append(who)

    try:
        # Released within the wait: the waiting writer goes on and its row is there.
        with holder.transaction() as session:
            session.execute(text("UPDATE alembic_version SET version_num = version_num"))
            second = threading.Thread(target=write, args=("after-the-holder",))
            second.start()
            time.sleep(0.2)
            assert wrote == []  # it waits while the lock is held
        second.join(timeout=5)
        assert wrote == ["after-the-holder"]

        # Held longer than the wait: SQLAlchemy's own error, and the connection waits as long next time.
        with holder.transaction() as session:
            session.execute(text("UPDATE alembic_version SET version_num = version_num"))
            with pytest.raises(OperationalError, match="database is locked"):
                write("too-late")
        write("once-free")
        with waiter.transaction() as session:
            assert session.execute(text("PRAGMA busy_timeout")).scalar_one() == 500
            versions = set(session.execute(text("SELECT version_num FROM alembic_version")).scalars())
        assert {"after-the-holder", "once-free"} <= versions and "too-late" not in versions
    finally:
        holder.dispose()
        waiter.dispose()
