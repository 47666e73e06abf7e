"""Hypothesis over raw webhook bodies of both providers, posted over real HTTP to the served app.

Authenticated (the Telegram secret, a valid Twilio signature) but otherwise anything: random Unicode,
right-to-left text, control characters, emoji, very long and empty values, wrong types, deep nesting.
No answer is a 500; Telegram always gets 200 (or it would deliver again for ever); Twilio gets 200 or
400; and afterwards every conversation is in a known state and every message handled got an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import SANDBOX_NUMBER, FakeTwilio, sign_twilio_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import free_socket, serve, url_of
from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.app import App, build
from bot.channels.telegram import make_bot
from bot.web import TELEGRAM_SECRET_HEADER, create_web_app
from config.settings import Settings
from handlers.engine import FLOWS
from models.tables import Conversation, InboundMessage, OutboxMessage

SECRET = "rahasia-webhook-uji"
EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=400),
    st.sampled_from(
        ["", " ", "\u202ehalo\u202c", "لاپور", "🔥🔥", "\x00\x01\x1b[31m", "lapor", "/start", "1"]
    ),
    st.text(alphabet="ab \n", min_size=3000, max_size=5000),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
chat_ids = st.integers(min_value=-(10**12), max_value=10**12) | st.integers() | texts | st.none()
chats = st.fixed_dictionaries(
    {"id": chat_ids, "type": st.sampled_from(["private", "group", "supergroup", "channel"]) | texts}
)
users = st.fixed_dictionaries({"id": chat_ids, "is_bot": st.booleans(), "first_name": texts})
messages = st.fixed_dictionaries(
    {"message_id": st.integers(), "date": st.integers(min_value=0, max_value=2**31)},
    optional={
        "chat": chats | json_values,
        "from": users | json_values,
        "text": texts | json_values,
        "caption": texts,
        "location": st.fixed_dictionaries(
            {"latitude": st.floats(allow_nan=False) | texts, "longitude": st.floats(allow_nan=False)}
        ),
        "photo": st.lists(
            st.fixed_dictionaries(
                {"file_id": texts, "file_unique_id": texts, "width": st.integers(), "height": st.integers()}
            ),
            max_size=2,
        ),
    },
)
callbacks = st.fixed_dictionaries(
    {"id": texts, "chat_instance": texts},
    optional={"from": users | json_values, "data": texts | json_values, "message": messages | json_values},
)
updates = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-5, max_value=2**62) | json_values},
    optional={
        "message": messages | json_values,
        "callback_query": callbacks | json_values,
        "other": json_values,
    },
)
# Well-formed private messages and button presses with anything as their text or data, from a few people.
people = st.integers(min_value=1, max_value=6)
private_messages = st.fixed_dictionaries(
    {
        "update_id": st.integers(min_value=0, max_value=2**31),
        "message": st.fixed_dictionaries(
            {
                "message_id": st.integers(min_value=1, max_value=2**31),
                "date": st.integers(min_value=0, max_value=2**31),
                "chat": st.fixed_dictionaries({"id": people, "type": st.just("private")}),
                "text": texts,
            }
        ),
    }
)
presses = st.fixed_dictionaries(
    {
        "update_id": st.integers(min_value=0, max_value=2**31),
        "callback_query": st.fixed_dictionaries(
            {
                "id": texts,
                "chat_instance": st.just("1"),
                "from": st.fixed_dictionaries({"id": people, "is_bot": st.just(False), "first_name": texts}),
                "data": texts
                | st.sampled_from(["menu:report", "cat:tawuran", "yes:yes", "ack:1", "cmd:x:y"]),
            }
        ),
    }
)
telegram_bodies = st.one_of(
    private_messages.map(lambda u: json.dumps(u).encode()),
    presses.map(lambda u: json.dumps(u).encode()),
    updates.map(lambda u: json.dumps(u).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.integers(min_value=1, max_value=5000).map(lambda n: b'{"update_id": 1, "message": ' + b"[" * n),
)

twilio_fields = st.sampled_from(
    [
        "Body",
        "From",
        "To",
        "MessageSid",
        "SmsMessageSid",
        "NumMedia",
        "MediaUrl0",
        "MediaContentType0",
        "Latitude",
        "Longitude",
        "ButtonPayload",
        "ProfileName",
        "WaId",
        "AccountSid",
    ]
) | st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)
numbers = st.sampled_from(
    ["whatsapp:+6281234567890", "whatsapp:+6281200000001", "whatsapp:08123", "sms:+62812"]
)
twilio_forms = st.fixed_dictionaries(
    {"From": numbers | texts, "MessageSid": st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True) | texts},
    optional={"Body": texts, "NumMedia": texts | st.sampled_from(["0", "1", "10", "-1"])},
).flatmap(
    lambda base: st.dictionaries(
        twilio_fields, st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200), max_size=8
    ).map(lambda extra: {**extra, **base})
)


@contextlib.contextmanager
def served(web: Starlette, sock: Any) -> Iterator[str]:
    """The app on a real socket, in a thread with its own event loop, so hypothesis can post synchronously."""
    started, stopping = threading.Event(), None
    base: list[str] = []

    async def run() -> None:
        nonlocal stopping
        stopping = asyncio.Event()
        async with serve(web, sock) as url:
            base.append(url)
            started.set()
            await stopping.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(30), "the server did not start"
    try:
        yield base[0]
    finally:
        loop.call_soon_threadsafe(stopping.set)  # type: ignore[union-attr]
        thread.join(30)


def consistent(app: App) -> int:
    """Every conversation in a known place; every message handled has an answer to its sender.

    Returns how many messages were handled, so a run that handled none is noticed.
    """
    with app.db.transaction() as session:
        handled = session.scalar(select(func.count()).select_from(InboundMessage)) or 0
        flows = set(session.scalars(select(Conversation.flow).distinct()))
        unanswered = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                select(InboundMessage.id).where(InboundMessage.conversation_id == Conversation.id).exists(),
                ~select(OutboxMessage.id)
                .where(
                    OutboxMessage.channel == Conversation.channel,
                    OutboxMessage.address == Conversation.address,
                )
                .exists(),
            )
        )
    assert flows <= {None, *FLOWS}, flows
    assert unanswered == 0
    return handled


def test_any_telegram_body_is_acknowledged_never_a_500(
    database_url: str, fake_telegram: FakeTelegram
) -> None:
    sock = free_socket()
    config = Settings(
        database_url=database_url,
        telegram_bot_token=fake_telegram.token,
        telegram_api_url=fake_telegram.base_url,
        telegram_webhook_secret=SECRET,
        sender_messages_per_minute=0,  # hypothesis writes far faster than anyone
        sender_reports_per_hour=0,
    )
    app = build(config, {})
    web = create_web_app(app, make_bot(fake_telegram.token, fake_telegram.base_url))
    answers: set[int] = set()
    try:
        with served(web, sock) as url, httpx.Client(base_url=url, timeout=30) as client:

            @EXAMPLES
            @given(body=telegram_bodies)
            def post(body: bytes) -> None:
                response = client.post(
                    "/telegram/webhook", content=body, headers={TELEGRAM_SECRET_HEADER: SECRET}
                )
                answers.add(response.status_code)
                assert response.status_code == 200, (response.status_code, body[:300])

            post()
        handled = consistent(app)
    finally:
        app.db.dispose()
    assert answers == {200}
    assert handled > 0


def test_any_signed_twilio_form_is_answered_200_or_400_never_a_500(
    database_url: str, fake_twilio: FakeTwilio
) -> None:
    sock = free_socket()
    public_url = url_of(sock)
    config = Settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_whatsapp_from=SANDBOX_NUMBER,
        twilio_api_url=fake_twilio.base_url,
        public_url=public_url,
        sender_messages_per_minute=0,
        sender_reports_per_hour=0,
    )
    app = build(config, {})
    web = create_web_app(app, None)
    answers: set[int] = set()
    try:
        with served(web, sock) as url, httpx.Client(base_url=url, timeout=30) as client:

            @EXAMPLES
            @given(form=twilio_forms, path=st.sampled_from(["/whatsapp/webhook", "/whatsapp/status"]))
            def post(form: dict[str, str], path: str) -> None:
                signature = sign_twilio_request(fake_twilio.auth_token, public_url + path, form)
                response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
                answers.add(response.status_code)
                assert response.status_code in (200, 204, 400, 413), (response.status_code, form)

            post()
        handled = consistent(app)
    finally:
        app.db.dispose()
    assert 200 in answers and 400 in answers
    assert handled > 0
