"""Webhook messages are stored, answered, then handled: in order per person, again after a failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fakes.twilio_api import SANDBOX_NUMBER, FakeTwilio, inbound_params, sign_twilio_request
from servers import count, free_socket, serve, url_of, wait_until
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from bot.app import App, build, whatsapp_sender
from bot.inbox import Inbox
from bot.web import create_web_app
from config.settings import Settings
from handlers import engine as engine_module
from handlers.messages import Inbound
from models.base import utcnow
from models.db import normalise_url
from models.tables import Conversation, InboundMessage, WaitingMessage

PHONE = "+6281234567890"
OTHER = "+6281234567891"


def whatsapp_app(database_url: str, fake_twilio: FakeTwilio, public_url: str) -> App:
    settings = Settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_whatsapp_from=SANDBOX_NUMBER,
        twilio_api_url=fake_twilio.base_url,
        public_url=public_url,
        whatsapp_messages_per_second=100,
    )
    return build(settings, {"whatsapp": whatsapp_sender(settings)})


def said(address: str, words: str, n: int) -> Inbound:
    return Inbound("whatsapp", address, f"SM{address[-4:]}{n:04d}", text=words)


@pytest.fixture
async def stopped_app(database_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[App]:
    app = whatsapp_app(database_url, fake_twilio, "http://127.0.0.1:1")
    yield app
    app.db.dispose()


async def test_messages_stored_before_a_restart_are_handled_when_it_starts(
    database_url: str, fake_twilio: FakeTwilio
) -> None:
    sock = free_socket()
    app = whatsapp_app(database_url, fake_twilio, url_of(sock))
    try:
        # Stored and answered 200, then the process died before handling them.
        Inbox(app.db, app.engine)._store([said(PHONE, "halo", 1), said(PHONE, "lapor", 2)])
        async with serve(create_web_app(app, None), sock):
            await wait_until(
                lambda: len(fake_twilio.messages_to("whatsapp:" + PHONE)) >= 2, what="both replies"
            )
            await wait_until(lambda: count(app.db, WaitingMessage) == 0, what="the inbox to empty")
    finally:
        app.db.dispose()
    replies = fake_twilio.messages_to("whatsapp:" + PHONE)
    assert "Selamat datang" in replies[0]
    assert "Apa jenis kejadiannya?" in replies[1]
    assert count(app.db, InboundMessage) == 2


async def test_a_person_waiting_behind_a_failed_message_waits_and_others_go_on(stopped_app: App) -> None:
    app = stopped_app
    inbox = Inbox(app.db, app.engine)
    inbox._store([said(PHONE, "halo", 1), said(OTHER, "halo", 1), said(PHONE, "lapor", 2)])
    with app.db.transaction() as session:
        first = session.scalars(select(WaitingMessage).order_by(WaitingMessage.id)).first()
        first.next_attempt_at = utcnow() + timedelta(minutes=1)  # failed once, due again later
    with app.db.transaction() as session:
        taken = [(r.address, r.message["text"]) for r in inbox.claim(session)]
    # The other person goes on; the second message of the first waits behind their first.
    assert taken == [(OTHER, "halo")]


async def test_a_message_that_fails_comes_again_and_the_rest_are_handled(
    stopped_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = stopped_app
    inbox = Inbox(app.db, app.engine)
    inbox._store([said(OTHER, "halo", 1), said(PHONE, "halo", 1), said(OTHER, "lapor", 2)])
    real = engine_module.record_inbound
    down = [True]  # the database fails this person's message until it is back

    def failing(session, conversation, inbound, now, people=None):  # type: ignore[no-untyped-def]
        if inbound.address.endswith(PHONE) and down[0]:
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        return real(session, conversation, inbound, now, people)

    monkeypatch.setattr(engine_module, "record_inbound", failing)
    assert inbox.handle_waiting() == 3
    with app.db.transaction() as session:
        waiting = session.scalars(select(WaitingMessage).order_by(WaitingMessage.id)).all()
        handled = {c.address: c.step for c in session.scalars(select(Conversation))}
        left = [(w.address, w.attempts, w.next_attempt_at > utcnow()) for w in waiting]
    # The one before it committed; it waits for its next try; the one after it comes again too.
    assert left[0] == (PHONE, 1, True)
    assert [w[0] for w in left] == [PHONE, OTHER]
    assert OTHER in handled

    down[0] = False
    inbox.clock = lambda: utcnow() + timedelta(minutes=1)
    while inbox.handle_waiting():
        pass
    assert count(app.db, WaitingMessage) == 0
    assert count(app.db, InboundMessage) == 3


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_webhook_answers_while_the_turn_waits_for_a_lock(
    database_url: str, fake_twilio: FakeTwilio
) -> None:
    sock = free_socket()
    app = whatsapp_app(database_url, fake_twilio, url_of(sock))
    params = inbound_params(PHONE, "halo")
    signature = sign_twilio_request(fake_twilio.auth_token, url_of(sock) + "/whatsapp/webhook", params)
    other = create_engine(normalise_url(database_url))
    try:
        async with (
            serve(create_web_app(app, None), sock) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        ):
            with other.connect() as holder:
                holder.execute(text("LOCK TABLE inbound_messages IN ACCESS EXCLUSIVE MODE"))
                answered = await client.post(
                    "/whatsapp/webhook", data=params, headers={"X-Twilio-Signature": signature}
                )
                waiting = count(app.db, WaitingMessage)
                holder.rollback()
            await wait_until(lambda: fake_twilio.messages_to("whatsapp:" + PHONE), what="the welcome")
    finally:
        other.dispose()
        app.db.dispose()
    assert answered.status_code == 200
    assert waiting == 1
    assert "Selamat datang" in fake_twilio.messages_to("whatsapp:" + PHONE)[0]
