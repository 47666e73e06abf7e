"""Proves the fake providers speak the real wire protocols by driving them with the real clients."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
import telegram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

try:  # plain `pytest` puts tests/ on sys.path; a configured pythonpath may expose the tests package
    from fakes.fixtures import fake_telegram, fake_twilio
    from fakes.telegram_api import FakeTelegram
    from fakes.twilio_api import FakeTwilio, inbound_params, sign_twilio_request, status_params
except ImportError:  # pragma: no cover
    from tests.fakes.fixtures import fake_telegram, fake_twilio  # noqa: F401
    from tests.fakes.telegram_api import FakeTelegram
    from tests.fakes.twilio_api import FakeTwilio, inbound_params, sign_twilio_request, status_params

logger = logging.getLogger(__name__)

USER = "whatsapp:+6281234567890"
SANDBOX = "whatsapp:+14155238886"


def _bot(fake: FakeTelegram) -> telegram.Bot:
    return telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)


def _client(fake: FakeTwilio, **http: Any) -> Client:
    client = Client(fake.account_sid, fake.auth_token, http_client=TwilioHttpClient(**http) if http else None)
    client.api.base_url = fake.base_url
    return client


# -- Telegram ----------------------------------------------------------------------------------------


def test_telegram_round_trip(fake_telegram: FakeTelegram) -> None:
    """getMe, sendMessage with a keyboard, getUpdates with offset and an edit all work through PTB."""

    async def scenario() -> None:
        async with _bot(fake_telegram) as bot:
            assert bot.username == "pelapor_test_bot"
            keyboard = telegram.InlineKeyboardMarkup(
                [[telegram.InlineKeyboardButton("Ya", callback_data="yes")]]
            )
            sent = await bot.send_message(42, "Halo", reply_markup=keyboard)
            assert sent.reply_markup == keyboard and sent.chat.type == "private"
            fake_telegram.push_update(fake_telegram.text_update(42, "/start"))
            fake_telegram.push_update(fake_telegram.callback_update(42, "yes"))
            fake_telegram.push_update(fake_telegram.location_update(42, -6.2, 106.8))
            fake_telegram.push_update(fake_telegram.photo_update(42, "PHOTO", caption="lihat"))
            fake_telegram.push_update(fake_telegram.sticker_update(42))
            updates = await bot.get_updates(timeout=1)
            assert len(updates) == 5
            assert updates[0].message.entities[0].type == "bot_command"
            assert updates[1].callback_query.data == "yes"
            assert updates[1].callback_query.message.message_id == sent.message_id
            assert updates[2].message.location.latitude == -6.2
            assert updates[3].message.photo[-1].file_id == "PHOTO"
            assert updates[4].message.sticker is not None
            started = time.monotonic()
            assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == ()
            assert time.monotonic() - started >= 0.9  # long poll waited
            edited = await bot.edit_message_reply_markup(42, sent.message_id)
            assert edited.reply_markup is None
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_reply_markup(42, sent.message_id)
            assert await bot.answer_callback_query(updates[1].callback_query.id)
            await bot.set_my_commands([("start", "Mulai")])
            assert (await bot.get_my_commands())[0].command == "start"

    asyncio.run(scenario())
    assert fake_telegram.messages_to("42") == ["Halo"]
    assert fake_telegram.sent[0]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Ya", "callback_data": "yes"}]]
    }


def test_telegram_faults_map_to_ptb_exceptions(
    fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each injected fault surfaces as the exception PTB raises for the real API."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # else PTB 22 warns on every RetryAfter it builds

    async def scenario() -> None:
        async with _bot(fake_telegram) as bot:
            fake_telegram.fail_next(1, "429", retry_after=3)
            with pytest.raises(RetryAfter) as flood:
                await bot.send_message(1, "x")
            assert flood.value.retry_after == timedelta(seconds=3)
            fake_telegram.fail_all_next("500")
            with pytest.raises(NetworkError):
                await bot.send_message(2, "x")
            fake_telegram.fail_next(3, "403")
            for _ in range(2):  # blocked is permanent
                with pytest.raises(Forbidden):
                    await bot.send_message(3, "x")
            fake_telegram.fail_next(-4, "migrate", new_chat_id=-1004)
            with pytest.raises(ChatMigrated) as migrated:
                await bot.send_message(-4, "x")
            assert migrated.value.new_chat_id == -1004
            with pytest.raises(ChatMigrated):
                await bot.send_message(-4, "x")
            await bot.send_message(-1004, "moved")
            fake_telegram.fail_next(5, "timeout", delay=0.6)
            with pytest.raises(TimedOut):
                await bot.send_message(5, "slow", read_timeout=0.2)
            await bot.send_message(1, "ok after flood")
        with pytest.raises(InvalidToken):
            await telegram.Bot("999:WRONG", base_url=fake_telegram.base_url).get_me()

    asyncio.run(scenario())
    assert fake_telegram.messages_to(-1004) == ["moved"]
    assert fake_telegram.messages_to(5) == ["slow"]  # delivered although the client timed out
    assert fake_telegram.messages_to(1) == ["ok after flood"]
    assert [r["status"] for r in fake_telegram.requests if r["method"] == "sendMessage"][:2] == [429, 500]


# -- Twilio ------------------------------------------------------------------------------------------


def test_twilio_create_records_and_fetches(fake_twilio: FakeTwilio) -> None:
    """The real client creates a message on the fake and can fetch it back."""
    client = _client(fake_twilio)
    message = client.messages.create(
        to=USER, from_=SANDBOX, body="Laporan diterima", status_callback="http://b/s"
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34 and message.status == "queued"
    assert client.messages(message.sid).fetch().body == "Laporan diterima"
    client.messages.create(
        to=USER, from_=SANDBOX, content_sid="HX" + "1" * 32, content_variables='{"1": "Budi"}'
    )
    assert fake_twilio.messages_to(USER) == ["Laporan diterima", ""]
    assert fake_twilio.sent[0]["status_callback"] == "http://b/s"
    assert fake_twilio.sent[1]["content_variables"] == {"1": "Budi"}
    assert fake_twilio.status_params(message.sid, "delivered")["To"] == USER


def test_twilio_faults_raise_twilio_exceptions(fake_twilio: FakeTwilio) -> None:
    """429, 5xx, 400 and a bad token become TwilioRestException; a read timeout is a requests error."""
    client = _client(fake_twilio, timeout=0.2)
    for kind, kw, status, code in [
        ("429", {}, 429, 20429),
        ("503", {}, 503, 20503),
        ("400", {"code": 63016, "message": "outside window"}, 400, 63016),
    ]:
        fake_twilio.fail_next(USER, kind, **kw)
        with pytest.raises(TwilioRestException) as failure:
            client.messages.create(to=USER, from_=SANDBOX, body="x")
        assert (failure.value.status, failure.value.code) == (status, code)
    fake_twilio.fail_all_next("timeout", delay=0.6)
    with pytest.raises(Exception, match="timed out") as timeout:
        client.messages.create(to=USER, from_=SANDBOX, body="slow")
    assert type(timeout.value).__name__ == "ReadTimeout"
    bad = Client(fake_twilio.account_sid, "wrong")
    bad.api.base_url = fake_twilio.base_url
    with pytest.raises(TwilioRestException) as denied:
        bad.messages.create(to=USER, from_=SANDBOX, body="x")
    assert (denied.value.status, denied.value.code) == (401, 20003)
    assert fake_twilio.messages_to(USER) == ["slow"]


def test_twilio_webhook_helpers() -> None:
    """Signed inbound params validate with Twilio's own RequestValidator."""
    url = "https://bot.example/webhooks/twilio"
    params = inbound_params("+6281234567890", "halo", latitude=-6.2, longitude=106.8)
    assert (
        params["From"] == USER and params["WaId"] == "6281234567890" and params["MessageType"] == "location"
    )
    signature = sign_twilio_request("fake-auth-token", url, params)
    assert RequestValidator("fake-auth-token").validate(url, params, signature)
    assert not RequestValidator("fake-auth-token").validate(url, {**params, "Body": "x"}, signature)
    media = inbound_params("+6281234567890", "", media_url="https://m/1")
    assert media["NumMedia"] == "1" and media["MediaContentType0"] == "image/jpeg"
    assert status_params("SM1", "failed", 63016)["ErrorCode"] == "63016"
