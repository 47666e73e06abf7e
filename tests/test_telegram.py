"""Telegram end to end: the real python-telegram-bot against FakeTelegram, over HTTP, with a real database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fakes.telegram_api import FakeTelegram
from servers import Outbox, count, free_socket, serve, url_of, wait_until
from sqlalchemy import func, select
from telegram import Bot
from telegram.error import TimedOut

from bot.app import App, build
from bot.channels.telegram import TelegramSender, make_bot, parse_update
from bot.dispatcher import outgoing
from bot.engine_process import EngineFailed, EngineProcess
from bot.polling import run_polling
from bot.web import TELEGRAM_SECRET_HEADER, create_web_app
from config.settings import Settings
from handlers.messages import Reply
from handlers.outbox import enqueue
from models.base import utcnow
from models.db import Database
from models.tables import Contact, Conversation, Document, InboundMessage, OutboxMessage, Report

CHAT = 4242
SECRET = "rahasia-webhook-123"
MENU = ("report", "status", "help", "language")

Update = dict[str, Any]
Action = Callable[[FakeTelegram], Update]


def typed(text: str) -> Action:
    return lambda fake: fake.text_update(CHAT, text)


def pressed(data: str) -> Action:
    """A button press on the bot's last message, built when pressed so it points at that message."""
    return lambda fake: fake.callback_update(CHAT, data)


def photo(file_id: str) -> Action:
    return lambda fake: fake.photo_update(CHAT, file_id)


class Person:
    """Someone in a private chat with the bot: what they do reaches the bot, what the bot sends they read."""

    def __init__(self, fake: FakeTelegram, chat_id: int = CHAT) -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.seen = 0

    async def read(self, expected: str) -> list[str]:
        """The messages that arrived since last read, once the newest contains `expected`."""

        def arrived() -> list[str] | None:
            new = self.fake.messages_to(self.chat_id)[self.seen :]
            return new if new and expected in new[-1] else None

        new = await wait_until(arrived, what=f"a message containing {expected!r}")
        self.seen += len(new)
        return new


def settings_for(database_url: str, fake: FakeTelegram, **extra: Any) -> Settings:
    # A high per-chat rate so a whole dialog does not wait on Telegram's one-message-a-second limit.
    extra.setdefault("telegram_messages_per_chat_per_second", 1000.0)
    extra.setdefault("media_dir", tempfile.mkdtemp(prefix="media-"))  # photos people send land here
    return Settings(
        database_url=database_url, telegram_bot_token=fake.token, telegram_api_url=fake.base_url, **extra
    )


def sender_for(fake: FakeTelegram) -> TelegramSender:
    return TelegramSender(make_bot(fake.token, fake.base_url))


@contextlib.asynccontextmanager
async def polling(database_url: str, fake: FakeTelegram, **settings: Any) -> AsyncIterator[App]:
    """The bot as `python -m bot poll` runs it, until the block ends."""
    app = build(settings_for(database_url, fake, **settings), {"telegram": sender_for(fake)})
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(app, make_bot(fake.token, fake.base_url), stop))
    try:
        # Polling begins once the place indexes are built, and the engine process is up where there is
        # one (4 to 5 s on a busy machine): what follows times the bot's answers, not its start.
        await wait_until(lambda: task.done() or fake.calls("getUpdates"), timeout=60, what="the first poll")
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        app.db.dispose()


# -- Long polling -------------------------------------------------------------------------------------------

REPORT_BY_BUTTONS: list[tuple[Action, str]] = [
    (typed("/start"), "Selamat datang"),
    (pressed("menu:report"), "Apa jenis kejadiannya?"),
    (pressed("cat:tawuran"), "Di mana kejadiannya?"),
    (typed("desa karangrejo kec sumbersari jember"), "Karangrejo, Sumbersari, Kabupaten Jember"),
    (pressed("yes:yes"), "Kapan kejadiannya?"),
    (pressed("when:now"), "Ceritakan apa yang terjadi"),
    (typed("Dua kelompok pelajar saling lempar batu di dekat pasar"), "berapa orang"),
    (pressed("people:group"), "tanda bahaya"),
    (pressed("danger:weapons"), "tanda bahaya"),
    (pressed("danger:_done"), "kelompok rentan"),
    (pressed("vulnerable:children"), "kelompok rentan"),
    (pressed("vulnerable:_done"), "foto"),
    (photo("PHOTO-TAWURAN"), "boleh menghubungi"),
    (pressed("contact:relay"), "periksa laporan"),
    (pressed("summary:send"), "Kode laporan: LPR-"),
]


def buttons(record: dict[str, Any]) -> list[list[dict[str, str]]]:
    return (record["reply_markup"] or {}).get("inline_keyboard", [])


def keyboard_under(fake: FakeTelegram, phrase: str) -> list[list[dict[str, str]]]:
    """The inline keyboard of the last message sent to CHAT that contains `phrase`."""
    found = [s for s in fake.sent if str(s["chat_id"]) == str(CHAT) and phrase in s["text"]]
    assert found, f"no message with {phrase!r}"
    return buttons(found[-1])


# ENGINE_PROCESS=1: the same through the engine in a process of its own (bot/engine_process.py).
ENGINE_WHERE = [
    pytest.param(False, id="engine in the polling process"),
    pytest.param(True, id="engine in its own process"),
]


def _recorded(app: App) -> bool:
    with app.db.transaction() as session:
        return not session.scalar(select(func.count()).where(OutboxMessage.status != "sent"))


@pytest.mark.parametrize("engine_process", ENGINE_WHERE)
async def test_report_through_buttons_and_text(
    database_url: str, fake_telegram: FakeTelegram, engine_process: bool
) -> None:
    person = Person(fake_telegram)
    presses = 0
    async with polling(database_url, fake_telegram, engine_process=engine_process) as app:
        for action, expected in REPORT_BY_BUTTONS:
            update = fake_telegram.push_update(action(fake_telegram))
            presses += "callback_query" in update
            replies = await person.read(expected)
        assert (app.engine_process is not None) == engine_process
        await wait_until(lambda: _recorded(app), what="every reply recorded as sent")
        with app.db.transaction() as session:
            report = session.scalars(select(Report)).one()
            reporter = report.reporter
            telegram_file_id = session.get(Document, report.media[0]).telegram_file_id
            recorded = session.execute(select(OutboxMessage.text, OutboxMessage.provider_id)).all()

    # Each reply is stored as sent with the id Telegram gave it.
    sent = [(r["text"], str(r["message_id"])) for r in fake_telegram.sent if str(r["chat_id"]) == str(CHAT)]
    assert sorted(recorded) == sorted(sent)

    assert f"Kode laporan: {report.code}" in replies[-1]
    assert (reporter.channel, reporter.address) == ("telegram", str(CHAT))
    assert report.category == "tawuran"
    assert report.region_code.startswith("35.09.21.")
    assert report.people == "group"
    assert (report.danger_signs, report.vulnerable_groups) == (["weapons"], ["children"])
    # The photo was fetched into MEDIA_DIR as a document; Telegram's file id is kept to resend it.
    assert report.photo_ref == f"document:{report.media[0]}"
    assert telegram_file_id == "PHOTO-TAWURAN"
    assert (report.anonymous, report.may_contact) == (True, True)

    # Questions with options carry real inline keyboards, one button a row, the keys as callback data.
    menu = keyboard_under(fake_telegram, "Selamat datang")
    assert [row[0]["callback_data"] for row in menu] == [f"menu:{key}" for key in MENU]
    categories = keyboard_under(fake_telegram, "Apa jenis kejadiannya?")
    assert all(len(row) == 1 for row in categories)
    assert {"text": "Tawuran", "callback_data": "cat:tawuran"} in [row[0] for row in categories]
    # Tapping a danger sign sends the question again with that option ticked.
    assert keyboard_under(fake_telegram, "tanda bahaya")[0][0]["text"].startswith("✓ ")
    assert buttons(fake_telegram.sent[-1]) == []
    # Every button press was answered, so the person's spinner stops.
    assert len(fake_telegram.calls("answerCallbackQuery")) == presses


async def test_a_shared_location_in_jember_is_kabupaten_jember(
    database_url: str, fake_telegram: FakeTelegram
) -> None:
    person = Person(fake_telegram)
    async with polling(database_url, fake_telegram) as app:
        for action, expected in REPORT_BY_BUTTONS[:3]:
            fake_telegram.push_update(action(fake_telegram))
            await person.read(expected)
        # 9 km south-west of Jember town; the nearest place GeoNames knows, Durenan, is a hamlet that is
        # neither a kecamatan nor a desa, so the answer is the kabupaten.
        fake_telegram.push_update(fake_telegram.location_update(CHAT, -8.2396, 113.6481))
        [asked] = await person.read("menurut lokasi yang Anda bagikan")
        fake_telegram.push_update(pressed("yes:yes")(fake_telegram))
        await person.read("Kapan kejadiannya?")
        with app.db.transaction() as session:
            state = session.scalars(select(Conversation.state)).one()

    assert "Kabupaten Jember, Jawa Timur" in asked
    assert state["region_code"].startswith("35.09")


@pytest.mark.parametrize("engine_process", ENGINE_WHERE)
async def test_the_same_update_twice_is_handled_once(
    database_url: str, fake_telegram: FakeTelegram, engine_process: bool
) -> None:
    start = fake_telegram.text_update(CHAT, "/start")
    # Both copies wait in the queue, so the bot receives them in one getUpdates answer.
    fake_telegram.push_update(start)
    fake_telegram.push_update(dict(start))
    person = Person(fake_telegram)
    async with polling(database_url, fake_telegram, engine_process=engine_process) as app:
        await person.read("Selamat datang")
        help_ = fake_telegram.push_update(fake_telegram.text_update(CHAT, "/bantuan"))
        await person.read("Perintah yang dapat Anda gunakan")
        with app.db.transaction() as session:
            handled = sorted(session.scalars(select(InboundMessage.external_id)))

    texts = fake_telegram.messages_to(CHAT)
    assert len(texts) == 2
    assert "Selamat datang" in texts[0]
    assert "Perintah yang dapat Anda gunakan" in texts[1]
    assert handled == sorted([str(start["update_id"]), str(help_["update_id"])])


async def test_an_engine_process_that_dies_is_started_again_and_nothing_is_lost(
    database_url: str, fake_telegram: FakeTelegram
) -> None:
    person = Person(fake_telegram)
    async with polling(database_url, fake_telegram, engine_process=True) as app:
        fake_telegram.push_update(fake_telegram.text_update(CHAT, "/start"))
        await person.read("Selamat datang")
        dead = app.engine_process._process  # type: ignore[union-attr]
        os.kill(dead.pid, signal.SIGKILL)
        dead.join(10)
        fake_telegram.push_update(fake_telegram.text_update(CHAT, "lapor"))
        # Fetched again after a pause, once the new engine process is up: seconds, not five.
        await wait_until(
            lambda: "Apa jenis kejadiannya?" in fake_telegram.messages_to(CHAT)[-1],
            timeout=30,
            what="the answer",
        )
        assert app.engine_process._process.is_alive()  # type: ignore[union-attr]
        with app.db.transaction() as session:
            handled = session.scalar(select(func.count()).select_from(InboundMessage))

    assert handled == 2
    assert len(fake_telegram.messages_to(CHAT)) == 2


async def test_an_engine_process_that_cannot_start_leaves_the_pages_to_the_polling_process(
    database_url: str, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def cannot(_self: EngineProcess) -> None:
        raise EngineFailed("the engine process did not start")

    monkeypatch.setattr(EngineProcess, "start", cannot)
    person = Person(fake_telegram)
    async with polling(database_url, fake_telegram, engine_process=True) as app:
        fake_telegram.push_update(fake_telegram.text_update(CHAT, "/start"))
        await person.read("Selamat datang")
        assert app.engine_process is None

    assert "handling messages in this process" in caplog.text


# -- Webhook -----------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def webhook_server(
    database_url: str, fake: FakeTelegram
) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    """The bot as `python -m bot serve` runs it, served by uvicorn, with a client for posting to it."""
    sock = free_socket()
    settings = settings_for(database_url, fake, telegram_webhook_secret=SECRET, public_url=url_of(sock))
    app = build(settings, {"telegram": sender_for(fake)})
    try:
        async with (
            serve(create_web_app(app, make_bot(fake.token, fake.base_url)), sock) as base_url,
            httpx.AsyncClient(base_url=base_url) as client,
        ):
            yield app, client
    finally:
        app.db.dispose()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no secret"),
        pytest.param({TELEGRAM_SECRET_HEADER: ""}, id="empty secret"),
        pytest.param({TELEGRAM_SECRET_HEADER: "tebakan"}, id="wrong secret"),
        pytest.param({TELEGRAM_SECRET_HEADER: SECRET.upper()}, id="secret in the wrong case"),
    ],
)
async def test_webhook_refuses_posts_without_the_secret(
    database_url: str, fake_telegram: FakeTelegram, headers: dict[str, str]
) -> None:
    async with webhook_server(database_url, fake_telegram) as (app, client):
        start = typed("/start")(fake_telegram)
        response = await client.post("/telegram/webhook", json=start, headers=headers)
        written = [count(app.db, table) for table in (Conversation, InboundMessage, OutboxMessage)]

    assert response.status_code == 403
    assert written == [0, 0, 0]
    assert fake_telegram.calls("sendMessage") == []


async def test_webhook_with_the_secret(database_url: str, fake_telegram: FakeTelegram) -> None:
    person = Person(fake_telegram)
    secret = {TELEGRAM_SECRET_HEADER: SECRET}
    async with webhook_server(database_url, fake_telegram) as (app, client):
        public_url = app.settings.public_url
        start = typed("/start")(fake_telegram)
        response = await client.post("/telegram/webhook", json=start, headers=secret)
        assert response.status_code == 200
        await person.read("Selamat datang")

        press = pressed("menu:report")(fake_telegram)
        assert (await client.post("/telegram/webhook", json=press, headers=secret)).status_code == 200
        await person.read("Apa jenis kejadiannya?")

        # Telegram delivers again when it missed our answer; the second copy changes nothing.
        assert (await client.post("/telegram/webhook", json=press, headers=secret)).status_code == 200
        # Group messages are acknowledged but not acted on.
        group = fake_telegram.text_update(-4001, "/lapor")
        assert (await client.post("/telegram/webhook", json=group, headers=secret)).status_code == 200

        category = pressed("cat:tawuran")(fake_telegram)
        assert (await client.post("/telegram/webhook", json=category, headers=secret)).status_code == 200
        await person.read("Di mana kejadiannya?")
        handled = count(app.db, InboundMessage)

    assert len(fake_telegram.messages_to(CHAT)) == 3
    assert fake_telegram.messages_to(-4001) == []
    assert handled == 3
    answered = {call["callback_query_id"] for call in fake_telegram.calls("answerCallbackQuery")}
    assert answered == {press["callback_query"]["id"], category["callback_query"]["id"]}
    # On start the server told Telegram where to post, with the secret Telegram must send back.
    [registered] = fake_telegram.calls("setWebhook")
    assert registered["url"] == f"{public_url}/telegram/webhook"
    assert registered["secret_token"] == SECRET
    assert registered["allowed_updates"] == ["message", "callback_query"]


def _deep(levels: int) -> bytes:
    return b'{"update_id": 7, "message": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"update_id": 99, "message": "halo"}', id="message not an object"),
        pytest.param(
            b'{"update_id": 98, "message": {"message_id": 1, "date": 0, "text": "/start"}}', id="no chat"
        ),
        pytest.param(b'{"update_id": null, "message": {}}', id="null id"),
        pytest.param(b'{"update_id": "x1013", "message": {}}', id="id not a number"),
        pytest.param(b'{"update_id": true}', id="id a boolean"),
        pytest.param(b"[1, 2]", id="not an object"),
        pytest.param(b"{halo", id="not JSON"),
        pytest.param(_deep(100_000), id="nested 100,000 deep"),
        pytest.param(b'{"update_id": 5, "x": "' + b"a" * 2_000_000 + b'"}', id="2 MB"),
        pytest.param(
            b'{"update_id": 6, "callback_query": {"id": "1", "chat_instance": "1", "data": "menu:report"}}',
            id="button without who pressed it",
        ),
        pytest.param(
            b'{"update_id": 0, "callback_query": {"id": "", "chat_instance": "", '
            b'"from": {"id": 0, "is_bot": false, "first_name": ""}, "data": [null]}}',
            id="button data a list (found by hypothesis)",
        ),
        pytest.param(
            b'{"update_id": 4, "callback_query": {"id": "1", "chat_instance": "1", '
            b'"from": {"id": "x1", "is_bot": false, "first_name": ""}, "data": "menu:report"}}',
            id="presser id not a number",
        ),
    ],
)
async def test_an_update_that_can_never_succeed_is_acknowledged_once_and_logged(
    database_url: str, fake_telegram: FakeTelegram, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with webhook_server(database_url, fake_telegram) as (app, client):
        response = await client.post(
            "/telegram/webhook", content=body, headers={TELEGRAM_SECRET_HEADER: SECRET}
        )
        written = [count(app.db, table) for table in (Conversation, InboundMessage, OutboxMessage)]

    # 200, or Telegram would deliver it again for ever; nothing stored, one line in the log.
    assert response.status_code == 200
    assert written == [0, 0, 0]
    assert len([r for r in caplog.records if "acknowledged and dropped" in r.getMessage()]) == 1


async def test_health_check(database_url: str, fake_telegram: FakeTelegram) -> None:
    async with webhook_server(database_url, fake_telegram) as (app, client):
        empty = await client.get("/healthz")
        # A WhatsApp message waits: this process has no WhatsApp sender.
        with app.db.transaction() as session:
            enqueue(session, channel="whatsapp", address="+6281234567890", reply=Reply("halo"), now=utcnow())
        waiting = await client.get("/healthz")

    assert (empty.status_code, empty.json()) == (
        200,
        {"status": "ok", "database": "ok", "outbox_pending": 0, "inbox_waiting": 0},
    )
    assert (waiting.status_code, waiting.json()["outbox_pending"]) == (200, 1)


# -- Sending under faults -----------------------------------------------------------------------------------


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    """A bot that gives up waiting for Telegram after 1.5 s, so a busy test machine is not a timeout."""
    bot = make_bot(fake_telegram.token, fake_telegram.base_url, timeout=1.5)
    # Its getMe at start is not what these tests are about: a busy machine gets three tries at it.
    for attempt in range(3):
        try:
            await bot.initialize()
            break
        except TimedOut:
            if attempt == 2:
                raise
    try:
        yield bot
    finally:
        await bot.shutdown()


def tries(fake: FakeTelegram, chat_id: int | str) -> int:
    return sum(1 for call in fake.calls("sendMessage") if str(call["chat_id"]) == str(chat_id))


def add_contact(db: Database, chat_id: int | str, name: str = "Pordam Karangrejo") -> int:
    with db.transaction() as session:
        contact = Contact(
            name=name, role="pioneer", region_code="35.09.21.2001", telegram_chat_id=str(chat_id)
        )
        session.add(contact)
        session.flush()
        return contact.id


def contact(db: Database, contact_id: int) -> Contact:
    with db.transaction() as session:
        return session.get(Contact, contact_id)


@pytest.mark.parametrize(
    ("kind", "fault", "error", "wait", "copies"),
    [
        pytest.param("429", {"retry_after": 30}, "429", 30, 1, id="flood control waits as told"),
        pytest.param("500", {}, "Internal Server Error", 1, 1, id="server error"),
        pytest.param("502", {}, "Bad Gateway", 1, 1, id="bad gateway"),
        # Telegram may deliver a message whose answer timed out, so the retry can be a second copy.
        pytest.param("timeout", {"delay": 4.0}, "timed out", 1, 2, id="timeout"),
    ],
)
async def test_temporary_failure_is_retried(
    db: Database,
    bot: Bot,
    fake_telegram: FakeTelegram,
    kind: str,
    fault: dict,
    error: str,
    wait: float,
    copies: int,
) -> None:
    outbox = Outbox(db, TelegramSender(bot))
    fake_telegram.fail_next(CHAT, kind, **fault)
    [message] = outbox.queue(CHAT, "Peringatan: tawuran di Karangrejo")
    queued_at = outbox.clock()

    await outbox.dispatcher.drain()
    first = outbox.row(message)
    await outbox.later(wait - 0.1)
    too_early = tries(fake_telegram, CHAT)
    await outbox.later()
    done = outbox.row(message)

    assert (first.status, first.attempts) == ("pending", 1)
    assert error in first.last_error
    assert first.next_attempt_at >= queued_at + timedelta(seconds=wait)
    assert too_early == 1
    assert (done.status, done.attempts, done.last_error) == ("sent", 2, None)
    assert fake_telegram.messages_to(CHAT) == ["Peringatan: tawuran di Karangrejo"] * copies
    assert tries(fake_telegram, CHAT) == 2


@pytest.mark.parametrize("where", ["nothing listening", "a port that cannot be"])
async def test_telegram_out_of_reach_is_retried_and_the_token_stays_out_of_the_error(
    db: Database, where: str
) -> None:
    with free_socket() as closed:  # nothing listens there once it is closed
        server = url_of(closed) if where == "nothing listening" else "http://127.0.0.1:99999"
    sender = TelegramSender(make_bot("123456:SECRET-TOKEN", f"{server}/bot123456:SECRET-TOKEN", timeout=1.5))
    outbox = Outbox(db, sender)
    [message] = outbox.queue(CHAT, "Peringatan: tawuran di Karangrejo")

    await outbox.dispatcher.drain()
    row = outbox.row(message)

    assert (row.status, row.attempts) == ("pending", 1)
    assert "network error" in row.last_error
    assert "SECRET-TOKEN" not in row.last_error


async def test_blocked_bot_fails_at_once_and_marks_the_contact(
    db: Database, bot: Bot, fake_telegram: FakeTelegram
) -> None:
    outbox = Outbox(db, TelegramSender(bot))
    blocked, other = add_contact(db, CHAT), add_contact(db, 777, "Pordam Sumbersari")
    fake_telegram.fail_next(CHAT, "403")
    [message] = outbox.queue(CHAT, "Peringatan: tawuran di Karangrejo")

    await outbox.dispatcher.drain()
    await outbox.later()
    row = outbox.row(message)

    assert (row.status, row.attempts) == ("failed", 1)
    assert "403" in row.last_error
    assert tries(fake_telegram, CHAT) == 1
    assert "blocked" in contact(db, blocked).unreachable_reason
    assert contact(db, other).unreachable_reason is None


async def test_upgraded_group_gets_the_message_at_its_new_id(
    db: Database, bot: Bot, fake_telegram: FakeTelegram
) -> None:
    old, new = -4001, -1004001
    outbox = Outbox(db, TelegramSender(bot))
    group = add_contact(db, old, "FKDM Sumbersari")
    fake_telegram.fail_next(old, "migrate", new_chat_id=new)
    messages = outbox.queue(old, "Peringatan: tawuran di Karangrejo", "Siapa yang menangani?")

    await outbox.dispatcher.drain()
    rows = [outbox.row(m) for m in messages]

    assert fake_telegram.messages_to(new) == ["Peringatan: tawuran di Karangrejo", "Siapa yang menangani?"]
    assert fake_telegram.messages_to(old) == []
    assert [(r.status, r.address) for r in rows] == [("sent", str(new))] * 2
    assert contact(db, group).telegram_chat_id == str(new)


async def test_gives_up_after_max_attempts(db: Database, bot: Bot, fake_telegram: FakeTelegram) -> None:
    outbox = Outbox(db, TelegramSender(bot), max_attempts=3)
    fake_telegram.fail_next(CHAT, "500", permanent=True)
    [message] = outbox.queue(CHAT, "Peringatan: tawuran di Karangrejo")

    await outbox.dispatcher.drain()
    for _ in range(4):
        await outbox.later()
    row = outbox.row(message)

    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error.startswith("gave up after 3 tries")
    assert tries(fake_telegram, CHAT) == 3
    assert fake_telegram.messages_to(CHAT) == []


async def test_messages_to_one_chat_keep_their_order_after_a_429(
    db: Database, bot: Bot, fake_telegram: FakeTelegram
) -> None:
    outbox = Outbox(db, TelegramSender(bot))
    fake_telegram.fail_next(CHAT, "429", retry_after=5)
    first, second = outbox.queue(CHAT, "satu", "dua")
    outbox.queue(777, "untuk orang lain")

    await outbox.dispatcher.drain()
    waiting = outbox.row(second)
    before = fake_telegram.messages_to(CHAT)
    await outbox.later(5)

    assert before == []
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    # "dua" was not even tried before "satu" went through.
    assert [c["text"] for c in fake_telegram.calls("sendMessage") if c["chat_id"] == CHAT] == [
        "satu",
        "satu",
        "dua",
    ]
    assert fake_telegram.messages_to(CHAT) == ["satu", "dua"]
    assert fake_telegram.messages_to(777) == ["untuk orang lain"]
    assert outbox.row(first).status == outbox.row(second).status == "sent"


async def test_a_reply_handed_over_behind_a_message_that_is_then_retried_waits_behind_it(
    db: Database, bot: Bot, fake_telegram: FakeTelegram
) -> None:
    """The engine decided to hand "dua" over while "satu" was under way; "satu" then met a 429."""
    outbox = Outbox(db, TelegramSender(bot))
    fake_telegram.fail_next(CHAT, "429", retry_after=5)
    [first] = outbox.queue(CHAT, "satu")
    await outbox.dispatcher.drain()  # "satu" refused: to be retried in 5 s
    [second] = outbox.queue(CHAT, "dua")
    with db.transaction() as session:  # marked as being sent, as the engine hands a reply over
        handed = session.get(OutboxMessage, second)
        lease = outbox.clock() + timedelta(minutes=2)
        handed.status, handed.attempts, handed.lease_until = "sending", 1, lease
        session.flush()
        prepared = outgoing(handed, 1)

    outbox.dispatcher.send_now([prepared])
    await wait_until(lambda: outbox.row(second).status == "pending", what="dua back in the outbox")
    before = fake_telegram.messages_to(CHAT)
    await outbox.later(5)

    assert before == []
    assert [c["text"] for c in fake_telegram.calls("sendMessage") if c["chat_id"] == CHAT] == [
        "satu",
        "satu",
        "dua",
    ]
    assert outbox.row(first).status == outbox.row(second).status == "sent"


def test_only_private_chats_start_flows_and_a_group_may_only_take_an_alert(
    bot: Bot, fake_telegram: FakeTelegram
) -> None:
    group = -1001234
    pressed = fake_telegram.callback_update(group, "menu:report")
    assert parse_update(pressed) is None
    typed = fake_telegram.text_update(group, "lapor")
    assert parse_update(typed) is None
    taken = parse_update(fake_telegram.callback_update(group, "ack:LPR-7K3QX"))
    assert taken is not None and (taken.address, taken.choice) == (str(group), "ack:LPR-7K3QX")
    private = parse_update(fake_telegram.callback_update(7001, "menu:report"))
    assert private is not None and private.address == "7001"
