"""SMS end to end: Twilio's signed incoming-SMS webhook into `serve`, the twilio client out to FakeTwilio.

A villager with a feature phone reports in everyday words and numbers; every SMS the bot sends is GSM
03.38 and counted in segments. A pioneer with only an SMS number gets the alert and takes it by SMS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fakes.twilio_api import SMS_NUMBER, FakeTwilio, sign_twilio_request, sms_params
from servers import free_socket, serve, url_of, wait_until
from sqlalchemy import select

from bot.app import App, build, senders_for
from bot.channels.gsm import segments
from bot.web import create_web_app
from config.settings import Settings
from models.tables import Contact, Incident, OutboxMessage, Report

VILLAGER = "+6281233300001"
PIONEER = "+6281233300002"
REPORT = (
    ("halo", "Selamat datang"),
    ("lapor", "Apa jenis kejadiannya?"),
    ("2", "Di mana kejadiannya?"),
    ("desa karangrejo kec sumbersari jember", "benar?"),
    ("iya", "Kapan kejadiannya?"),
    ("tadi malam", "Ceritakan"),
    ("Dua kelompok pemuda saling ejek di depan sekolah, ada yg bawa celurit", "berapa orang"),
    ("sekitar 20", "tanda bahaya"),
    ("ga ada", "kelompok rentan"),
    ("ga ada", "foto"),
    ("ga ada", "menghubungi"),
    ("anonim aja", "Kirim laporan ini?"),
    ("kirim", "Kode laporan"),
)


class Phone:
    """A feature phone texting the bot through Twilio, and reading what comes back."""

    def __init__(self, number: str, app: App, client: httpx.AsyncClient, fake: FakeTwilio) -> None:
        self.number, self.app, self.client, self.fake = number, app, client, fake
        self.seen = 0

    async def text(self, body: str, expected: str) -> list[str]:
        params = sms_params(self.number, body)
        url = self.app.settings.public_url + "/sms/webhook"
        signature = sign_twilio_request(self.fake.auth_token, url, params)
        response = await self.client.post(
            "/sms/webhook", data=params, headers={"X-Twilio-Signature": signature}
        )
        assert response.status_code == 200, response.text

        def arrived() -> list[str] | None:
            new = self.fake.messages_to(self.number)[self.seen :]
            return new if any(expected in m for m in new) else None

        new = await wait_until(arrived, what=f"an SMS containing {expected!r}")
        self.seen += len(new)
        return new


@pytest.fixture
async def sms(database_url: str, fake_twilio: FakeTwilio) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    """`python -m bot serve` with SMS only; Twilio's side is FakeTwilio."""
    sock = free_socket()
    settings = Settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_sms_from=SMS_NUMBER,
        twilio_api_url=fake_twilio.base_url,
        public_url=url_of(sock),
        sms_messages_per_second=100,
    )
    app = build(settings, senders_for(settings))
    try:
        async with (
            serve(create_web_app(app, None), sock) as base_url,
            httpx.AsyncClient(base_url=base_url) as client,
        ):
            yield app, client
    finally:
        app.db.dispose()


async def test_a_report_by_sms_reaches_an_sms_only_pioneer_who_takes_it_by_sms(
    sms: tuple[App, httpx.AsyncClient], fake_twilio: FakeTwilio
) -> None:
    app, client = sms
    with app.db.transaction() as session:
        session.add(Contact(name="Pak Wiryo", role="pelopor", region_code="35.09.21", sms=PIONEER))
    villager, pioneer = Phone(VILLAGER, app, client, fake_twilio), Phone(PIONEER, app, client, fake_twilio)
    heard = []
    for said, expected in REPORT:
        heard += await villager.text(said, expected)
    alert = await wait_until(lambda: fake_twilio.messages_to(PIONEER), what="the SMS alert")
    pioneer.seen = len(alert)  # the alert's own words are not the answer to TANGANI
    with app.db.transaction() as session:
        code = session.scalars(select(Report.code)).one()
    taken = await pioneer.text(f"tangani {code.lower()}", "Anda tangani")

    with app.db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        pioneer_id = session.scalars(select(Contact.id)).one()
    assert incident.acknowledged_by == pioneer_id
    assert code in heard[-1] and code in alert[0] and "TANGANI" in alert[0]
    # Every SMS is GSM 03.38 (no em dash, curly quote or emoji to force UCS-2), from the SMS number.
    sent = fake_twilio.sent
    assert all(s["from_"] == SMS_NUMBER and not s["to"].startswith("whatsapp:") for s in sent)
    counts = [segments(s["body"]) for s in sent]  # raises if any body is not GSM 03.38
    assert max(counts) <= 3, [(n, s["body"]) for n, s in zip(counts, sent, strict=True) if n > 3]
    assert segments(alert[0]) <= 2 and segments(heard[0]) <= 2
    # Options come as numbered lines, which is what "2" answered.
    assert "\n2. Tawuran\n" in next(m for m in heard if "Apa jenis kejadiannya?" in m)
    assert taken


async def test_sms_delivery_reports_are_stored(
    sms: tuple[App, httpx.AsyncClient], fake_twilio: FakeTwilio
) -> None:
    app, client = sms
    await Phone(VILLAGER, app, client, fake_twilio).text("halo", "Selamat datang")
    [sent] = fake_twilio.sent

    def recorded() -> str | None:
        # The dispatcher records a send just after Twilio answers it; a report before that is kept aside
        # (test_whatsapp.py covers that case), and this test is about the report after.
        with app.db.transaction() as session:
            return session.scalars(select(OutboxMessage.provider_id)).one()

    await wait_until(recorded, what="the send recorded")
    params = fake_twilio.status_params(sent["sid"], "delivered")
    url = app.settings.public_url + "/sms/status"
    signature = sign_twilio_request(fake_twilio.auth_token, url, params)
    response = await client.post("/sms/status", data=params, headers={"X-Twilio-Signature": signature})
    with app.db.transaction() as session:
        stored = session.scalars(select(OutboxMessage.delivery_status)).one()
    assert (response.status_code, stored) == (204, "delivered")
