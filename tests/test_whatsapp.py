"""WhatsApp end to end: signed Twilio webhooks in over real HTTP, the real twilio client out to FakeTwilio."""

from __future__ import annotations

import io
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fakes.twilio_api import SANDBOX_NUMBER, FakeTwilio, inbound_params, sign_twilio_request
from PIL import Image
from servers import Outbox, count, free_socket, serve, url_of, wait_until
from sqlalchemy import select

from bot import delivery_reports
from bot.app import App, build, whatsapp_sender
from bot.channels.whatsapp import WhatsAppSender, make_client
from bot.web import EMPTY_TWIML, create_web_app
from config.settings import Settings
from handlers.messages import Choice
from models.base import utcnow
from models.db import Database
from models.tables import Conversation, EarlyDeliveryReport, InboundMessage, OutboxMessage, Report

PHONE = "+6281234567890"
USER = "whatsapp:" + PHONE
SIGNATURE = "X-Twilio-Signature"
PHOTO_URL = "PHOTO_URL"  # replaced by a photo the fake serves, which the bot fetches with its credentials


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (90, 120, 60)).save(out, "JPEG")
    return out.getvalue()


PHOTO = _jpeg()


class WhatsApp:
    """The bot served for real, and a person writing to it through Twilio."""

    def __init__(self, app: App, client: httpx.AsyncClient, fake: FakeTwilio) -> None:
        self.app = app
        self.client = client
        self.fake = fake
        self.public_url = app.settings.public_url
        self.seen = 0

    def signed(self, path: str, params: dict[str, str]) -> dict[str, str]:
        """The header Twilio adds: a signature over our public URL and the form."""
        return {SIGNATURE: sign_twilio_request(self.fake.auth_token, self.public_url + path, params)}

    async def post(self, path: str, params: dict[str, str]) -> httpx.Response:
        return await self.client.post(path, data=params, headers=self.signed(path, params))

    async def send(self, message: str | dict[str, Any], **kw: Any) -> httpx.Response:
        """A message from the person, as Twilio posts it; a dict gives `inbound_params` arguments."""
        args = {"body": message} if isinstance(message, str) else message
        return await self.post("/whatsapp/webhook", inbound_params(PHONE, **args, **kw))

    async def read(self, expected: str) -> list[str]:
        """The messages that reached the person since last read, once the newest contains `expected`."""

        def arrived() -> list[str] | None:
            new = self.fake.messages_to(USER)[self.seen :]
            return new if new and expected in new[-1] else None

        new = await wait_until(arrived, what=f"a WhatsApp message containing {expected!r}")
        self.seen += len(new)
        return new

    async def say(self, message: str | dict[str, Any], expected: str) -> list[str]:
        response = await self.send(message)
        assert response.status_code == 200, response.text
        return await self.read(expected)


@pytest.fixture
async def whatsapp(database_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[WhatsApp]:
    """`python -m bot serve` with WhatsApp only; Twilio's side is FakeTwilio."""
    sock = free_socket()  # bound first: the public URL is part of every signature
    settings = Settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_whatsapp_from=SANDBOX_NUMBER,
        twilio_api_url=fake_twilio.base_url,
        public_url=url_of(sock),
        media_dir=tempfile.mkdtemp(prefix="media-"),
    )
    app = build(settings, {"whatsapp": whatsapp_sender(settings)})
    try:
        async with (
            serve(create_web_app(app, None), sock) as base_url,
            httpx.AsyncClient(base_url=base_url) as client,
        ):
            yield WhatsApp(app, client, fake_twilio)
    finally:
        app.db.dispose()


def nothing_written(db: Database) -> list[int]:
    return [count(db, table) for table in (Conversation, InboundMessage, OutboxMessage)]


# -- Incoming messages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda token, url, params: ({}, params), id="no signature"),
        pytest.param(lambda token, url, params: ({SIGNATURE: ""}, params), id="empty signature"),
        pytest.param(
            lambda token, url, params: ({SIGNATURE: sign_twilio_request("tebakan", url, params)}, params),
            id="signed with another token",
        ),
        pytest.param(
            lambda token, url, params: (
                {SIGNATURE: sign_twilio_request(token, "https://bot.example.org/whatsapp/webhook", params)},
                params,
            ),
            id="signed for another URL",
        ),
        pytest.param(
            lambda token, url, params: (
                {SIGNATURE: sign_twilio_request(token, url, params)},
                params | {"Body": "lapor palsu"},
            ),
            id="changed after signing",
        ),
    ],
)
async def test_unsigned_message_is_refused(whatsapp: WhatsApp, forge: Any) -> None:
    url = whatsapp.public_url + "/whatsapp/webhook"
    headers, params = forge(whatsapp.fake.auth_token, url, inbound_params(PHONE, "halo"))

    response = await whatsapp.client.post("/whatsapp/webhook", data=params, headers=headers)

    assert response.status_code == 403
    assert nothing_written(whatsapp.app.db) == [0, 0, 0]
    assert whatsapp.fake.sent == []


async def test_a_large_body_is_refused_before_it_is_read(whatsapp: WhatsApp) -> None:
    params = inbound_params(PHONE, "x" * 200_000)
    unsigned = await whatsapp.client.post("/whatsapp/webhook", data=params)
    signed = await whatsapp.post("/whatsapp/webhook", params)
    many_fields = {f"F{n}": "1" for n in range(1_000)} | inbound_params(PHONE, "halo")
    too_many = await whatsapp.post("/whatsapp/webhook", many_fields)

    # Without a signature nothing is read; over Twilio's size, or with more fields than Twilio sends,
    # nothing is parsed or written.
    assert (unsigned.status_code, signed.status_code, too_many.status_code) == (403, 413, 400)
    assert nothing_written(whatsapp.app.db) == [0, 0, 0]


async def test_message_is_answered_with_numbered_options(whatsapp: WhatsApp) -> None:
    response = await whatsapp.send("halo")
    [welcome] = await whatsapp.read("Selamat datang")
    # Twilio expects TwiML; the reply itself goes out through the REST API.
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML

    assert welcome.endswith("\n\n1. Lapor kejadian\n2. Cek status laporan\n3. Bantuan\n4. Ganti bahasa")
    [sent] = whatsapp.fake.sent
    assert (sent["from_"], sent["to"]) == (SANDBOX_NUMBER, USER)
    assert sent["status_callback"] == whatsapp.public_url + "/whatsapp/status"

    def recorded() -> OutboxMessage | None:
        # The dispatcher records a send just after Twilio answers it.
        with whatsapp.app.db.transaction() as session:
            row = session.scalars(select(OutboxMessage)).one()
        return row if row.status != "sending" else None

    outbox = await wait_until(recorded, what="the send to be recorded")
    with whatsapp.app.db.transaction() as session:
        conversation = session.scalars(select(Conversation)).one()
    assert (conversation.channel, conversation.address) == ("whatsapp", PHONE)
    assert (outbox.status, outbox.provider_id) == ("sent", sent["sid"])


async def test_sms_is_not_taken_for_whatsapp(whatsapp: WhatsApp) -> None:
    response = await whatsapp.post("/whatsapp/webhook", inbound_params(PHONE, "halo") | {"From": PHONE})

    assert response.status_code == 400
    assert nothing_written(whatsapp.app.db) == [0, 0, 0]


REPORT_BY_NUMBERS_AND_WORDS: list[tuple[str | dict[str, Any], str]] = [
    ("halo", "Selamat datang"),
    ("lapor", "Apa jenis kejadiannya?"),
    ("2", "Di mana kejadiannya?"),
    ("desa karangrejo kec sumbersari jember", "Karangrejo, Sumbersari, Kabupaten Jember"),
    ("ya", "Kapan kejadiannya?"),
    ("tadi malam jam 9", "Ceritakan apa yang terjadi"),
    ("Dua kelompok pelajar saling lempar batu dan membawa celurit di dekat pasar", "berapa orang"),
    ("sekitar 30 orang", "tanda bahaya"),
    ("1, 2", "kelompok rentan"),
    ("tidak ada", "foto"),
    ({"body": "ini fotonya", "media_url": PHOTO_URL}, "boleh menghubungi"),
    ("1", "periksa laporan"),
    ("kirim", "Kode laporan: LPR-"),
]


async def test_report_by_numbers_and_words(whatsapp: WhatsApp) -> None:
    conversation = []
    photo_url = whatsapp.fake.add_media(PHOTO, "image/jpeg")
    for message, expected in REPORT_BY_NUMBERS_AND_WORDS:
        if isinstance(message, dict) and message.get("media_url") == PHOTO_URL:
            message = message | {"media_url": photo_url}
        conversation += await whatsapp.say(message, expected)

    with whatsapp.app.db.transaction() as session:
        report = session.scalars(select(Report)).one()
        reporter = report.reporter
    assert f"Kode laporan: {report.code}" in conversation[-1]
    assert (reporter.channel, reporter.address) == ("whatsapp", PHONE)
    assert (report.category, report.occurred) == ("tawuran", "tadi malam jam 9")
    assert report.region_code.startswith("35.09.21.")
    assert (report.people, report.danger_signs, report.vulnerable_groups) == (
        "group",
        ["weapons", "injuries"],
        [],
    )
    assert report.photo_ref == f"document:{report.media[0]}"
    assert (report.anonymous, report.may_contact) == (True, False)
    # The options were offered as numbered lines, which is what "2" and "1, 2" answered.
    category_question = next(m for m in conversation if "Apa jenis kejadiannya?" in m)
    assert "\n1. Bentrok antarkelompok atau perguruan silat\n2. Tawuran\n" in category_question


async def test_a_location_shared_on_whatsapp_is_a_place(whatsapp: WhatsApp) -> None:
    await whatsapp.say("lapor", "Apa jenis kejadiannya?")
    await whatsapp.say("tawuran", "Di mana kejadiannya?")
    # WhatsApp's paperclip, Location: Twilio posts Latitude and Longitude with an empty body.
    [asked] = await whatsapp.say(
        {"body": "", "latitude": -8.16, "longitude": 113.72}, "lokasi yang Anda bagikan"
    )
    await whatsapp.say("1", "Kapan kejadiannya?")
    with whatsapp.app.db.transaction() as session:
        state = session.scalars(select(Conversation.state)).one()

    assert asked.startswith("Sekitar Patrang, Kabupaten Jember, Jawa Timur")
    assert "1. Ya" in asked
    assert (state["region_code"], state["latitude"], state["longitude"]) == ("35.09.20", -8.16, 113.72)


async def test_the_same_message_twice_is_handled_once(whatsapp: WhatsApp) -> None:
    first = await whatsapp.send("halo", message_sid="SM" + "a" * 32)
    again = await whatsapp.send("halo", message_sid="SM" + "a" * 32)
    await whatsapp.say("bantuan", "Perintah yang dapat Anda gunakan")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.text == EMPTY_TWIML
    texts = whatsapp.fake.messages_to(USER)
    assert len(texts) == 2
    assert "Selamat datang" in texts[0]
    assert count(whatsapp.app.db, InboundMessage) == 2


async def test_delivery_reports_are_stored(whatsapp: WhatsApp) -> None:
    await whatsapp.say("halo", "Selamat datang")
    [sent] = whatsapp.fake.sent

    def delivery_status() -> str | None:
        with whatsapp.app.db.transaction() as session:
            return session.scalars(select(OutboxMessage.delivery_status)).one()

    def recorded() -> str | None:
        with whatsapp.app.db.transaction() as session:
            return session.scalars(select(OutboxMessage.provider_id)).one()

    # Arrived at Twilio is not yet recorded here; a report before that is kept for later (the next test).
    await wait_until(recorded, what="the send recorded")

    # Twilio reports a message's life in order; a report Twilio did not sign is refused.
    for status, error_code, stored in [
        ("sent", None, "sent"),
        ("delivered", None, "delivered"),
        ("read", None, "read"),
        ("queued", None, "read"),  # not a delivery state: ignored
        ("failed", 63016, "failed:63016"),
        ("undelivered", 30008, "undelivered:30008"),
    ]:
        response = await whatsapp.post(
            "/whatsapp/status", whatsapp.fake.status_params(sent["sid"], status, error_code)
        )
        assert (response.status_code, delivery_status()) == (204, stored), status

    forged = whatsapp.fake.status_params(sent["sid"], "delivered")
    refused = await whatsapp.client.post(
        "/whatsapp/status", data=forged, headers={SIGNATURE: "bukan-tanda-tangan"}
    )
    other = await whatsapp.post("/whatsapp/status", whatsapp.fake.status_params("SM" + "0" * 32, "delivered"))
    assert refused.status_code == 403
    assert other.status_code == 204
    assert delivery_status() == "undelivered:30008"


async def test_a_report_before_the_send_is_recorded_is_kept_and_applied_in_one_write(
    whatsapp: WhatsApp,
) -> None:
    # Twilio answers the send a second late, and reports on the message in between.
    whatsapp.fake.fail_next(USER, "slow", delay=1.0)
    assert (await whatsapp.send("halo")).status_code == 200
    [sent] = await wait_until(lambda: whatsapp.fake.sent, what="the message at Twilio")
    early = await whatsapp.post("/whatsapp/status", whatsapp.fake.status_params(sent["sid"], "delivered"))
    with whatsapp.app.db.transaction() as session:
        kept = session.scalars(select(EarlyDeliveryReport.state)).all()
    await whatsapp.read("Selamat datang")

    def applied() -> str | None:
        with whatsapp.app.db.transaction() as session:
            return session.scalars(
                select(OutboxMessage.delivery_status).where(OutboxMessage.provider_id == sent["sid"])
            ).one_or_none()

    assert early.status_code == 204
    assert kept == ["delivered"]
    assert await wait_until(applied, what="the early report applied") == "delivered"
    assert count(whatsapp.app.db, EarlyDeliveryReport) == 0


async def test_reports_for_ids_that_are_not_ours_answer_at_once(whatsapp: WhatsApp) -> None:
    unknown = [whatsapp.fake.status_params(f"SM{n:032d}", "sent") for n in range(10)]
    answers = [(await whatsapp.post("/whatsapp/status", params)).status_code for params in unknown]
    kept = count(whatsapp.app.db, EarlyDeliveryReport)
    with whatsapp.app.db.transaction() as session:
        forgotten = delivery_reports.forget_old(session, utcnow() + timedelta(days=2))

    assert answers == [204] * 10
    # Each is one write, kept a day in case its message is ours (before, each held its request for a
    # second and wrote 20 times), then forgotten.
    assert kept == 10
    assert forgotten == 10


# -- Sending under faults ---------------------------------------------------------------------------------


def sender(fake: FakeTwilio, timeout: float = 10.0) -> WhatsAppSender:
    client = make_client(fake.account_sid, fake.auth_token, fake.base_url, timeout=timeout)
    return WhatsAppSender(client, SANDBOX_NUMBER)


def tries(fake: FakeTwilio) -> int:
    return sum(1 for r in fake.requests if r["params"].get("To") == USER)


@pytest.mark.parametrize(
    ("kind", "fault", "error", "copies"),
    [
        pytest.param("429", {}, "code 20429", 1, id="too many requests"),
        pytest.param("503", {}, "503", 1, id="service unavailable"),
        # Twilio may send a message whose answer timed out, so the retry can be a second copy.
        pytest.param("timeout", {"delay": 4.0}, "Timeout", 2, id="timeout"),
    ],
)
async def test_temporary_failure_is_retried(
    db: Database, fake_twilio: FakeTwilio, kind: str, fault: dict, error: str, copies: int
) -> None:
    outbox = Outbox(db, sender(fake_twilio, timeout=1.5))
    fake_twilio.fail_next(USER, kind, **fault)
    [message] = outbox.queue(PHONE, "Laporan Anda sedang ditangani petugas.")

    await outbox.dispatcher.drain()
    first = outbox.row(message)
    await outbox.later()
    done = outbox.row(message)

    assert (first.status, first.attempts) == ("pending", 1)
    assert error in first.last_error
    assert (done.status, done.attempts, done.last_error) == ("sent", 2, None)
    assert fake_twilio.messages_to(USER) == ["Laporan Anda sedang ditangani petugas."] * copies
    assert tries(fake_twilio) == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param({"code": 21211}, "code 21211", id="invalid number"),
        pytest.param({"code": 63016, "permanent": True}, "code 63016", id="outside the 24-hour window"),
    ],
)
async def test_refused_message_is_not_retried(
    db: Database, fake_twilio: FakeTwilio, fault: dict, error: str
) -> None:
    outbox = Outbox(db, sender(fake_twilio))
    fake_twilio.fail_next(USER, "400", **fault)
    [message] = outbox.queue(PHONE, "Laporan Anda sedang ditangani petugas.")

    await outbox.dispatcher.drain()
    await outbox.later()
    row = outbox.row(message)

    assert (row.status, row.attempts) == ("failed", 1)
    assert error in row.last_error
    assert tries(fake_twilio) == 1
    assert fake_twilio.messages_to(USER) == []


async def test_long_message_is_sent_in_parts(db: Database, fake_twilio: FakeTwilio) -> None:
    outbox = Outbox(db, sender(fake_twilio))
    story = "\n".join(f"Kejadian {i}: " + "warga berkumpul di balai desa. " * 5 for i in range(12))
    choices = (Choice("yes:yes", "Ya, benar"), Choice("yes:no", "Bukan"))
    [message] = outbox.queue(PHONE, story, choices=choices)

    await outbox.dispatcher.drain()

    parts = fake_twilio.messages_to(USER)
    assert len(parts) == 2
    assert all(len(part) <= 1600 for part in parts)
    assert "\n".join(parts) == story + "\n\n1. Ya, benar\n2. Bukan"
    assert outbox.row(message).provider_id == fake_twilio.sent[-1]["sid"]


async def test_an_alert_outside_the_window_goes_as_the_approved_template(
    db: Database, fake_twilio: FakeTwilio
) -> None:
    outbox = Outbox(db, sender(fake_twilio))
    [message] = outbox.queue(PHONE, "⚠️ PERINGATAN DINI — SIAGA")
    variables = {
        "1": "LPR-7K3QX",
        "2": "Tawuran",
        "3": "SIAGA",
        "4": "Sumbersari, Kabupaten Jember",
        "5": "-",
    }
    with db.transaction() as session:
        row = session.get(OutboxMessage, message)
        row.template_sid, row.template_variables = "HX" + "0" * 32, variables

    await outbox.dispatcher.drain()

    [sent] = fake_twilio.sent
    assert sent["to"] == USER
    assert sent["content_sid"] == "HX" + "0" * 32
    assert sent["content_variables"] == variables
    assert not sent["body"]
    assert outbox.row(message).status == "sent"


async def test_control_characters_and_over_long_ids_get_the_same_answer_on_every_database(
    whatsapp: WhatsApp,
) -> None:
    refused = await whatsapp.send("halo", message_sid="SM" + "b" * 300)
    assert refused.status_code == 400
    await whatsapp.say("lapor", "Apa jenis kejadiannya?")
    await whatsapp.say("tawuran", "Di mana kejadiannya?")
    await whatsapp.say("desa karangrejo kec sumbersari jember", "benar?")
    await whatsapp.say("ya", "Kapan kejadiannya?")
    await whatsapp.say("hari ini", "Ceritakan")
    # A NUL from a broken keyboard app: PostgreSQL refuses it in text, so it is cleaned on the way in.
    await whatsapp.say("pemuda\x00 dua kampung\x07 saling lempar batu", "berapa orang")
    with whatsapp.app.db.transaction() as session:
        state = session.scalars(select(Conversation.state)).one()
    assert state["description"] == "pemuda dua kampung saling lempar batu"
