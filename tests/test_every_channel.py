"""Every process sends on every configured channel: `python -m bot poll` with and without Twilio settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import SMS_NUMBER, FakeTwilio, inbound_params, sign_twilio_request
from processes import ROOT, bot_process, stop, wait_for
from servers import free_socket, url_of
from sqlalchemy import select

from bot.channels.gsm import segments
from bot.channels.telegram import TelegramSender, make_bot
from bot.dispatcher import Dispatcher
from bot.limits import Limits
from config.settings import Settings
from handlers.messages import Reply
from handlers.outbox import enqueue
from models.base import utcnow
from models.db import Database
from models.tables import Contact, OutboxMessage, Report

CITIZEN = 7001
TEMPLATE = "HX" + "1" * 32
# A citizen reports on Telegram as people type it; each line waits for the bot's answer.
REPORT = [
    ("lapor", "jenis kejadiannya"),
    ("tawuran", "Di mana kejadiannya"),
    ("desa karangrejo kec sumbersari jember", "benar?"),
    ("ya", "Kapan kejadiannya"),
    ("tadi malam", "Ceritakan apa yang terjadi"),
    ("Dua kelompok pemuda saling lempar batu di dekat pasar", "berapa orang"),
    ("sekitar 30 orang", "tanda bahaya"),
    ("tidak ada", "kelompok rentan"),
    ("tidak ada", "foto"),
    ("tidak", "boleh menghubungi"),
    ("1", "periksa laporan"),
    ("kirim", "Kode laporan"),
]


def telegram_settings(database_url: str, fake: FakeTelegram) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.base_url,
        "TELEGRAM_MESSAGES_PER_CHAT_PER_SECOND": "50",
    }


def twilio_settings(fake: FakeTwilio) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "TWILIO_API_URL": fake.base_url,
        "TWILIO_TEMPLATE_ALERT": TEMPLATE,
    }


def add_contacts(db: Database, *contacts: tuple[str, str | None, str | None]) -> None:
    """Pioneers of Sumbersari: (name, telegram chat id, WhatsApp number)."""
    with db.transaction() as session:
        for name, chat_id, number in contacts:
            session.add(
                Contact(
                    name=name,
                    role="pelopor",
                    region_code="35.09.21",
                    telegram_chat_id=chat_id,
                    whatsapp=number,
                )
            )


def report_on_telegram(fake: FakeTelegram, process: subprocess.Popen[bytes], log: Path) -> str:
    """Type the whole report; the code the bot gave."""
    for typed, expected in REPORT:
        seen = len(fake.messages_to(CITIZEN))
        fake.push_update(fake.text_update(CITIZEN, typed))
        wait_for(
            f"an answer to {typed!r} containing {expected!r}",
            lambda seen=seen, expected=expected: any(expected in t for t in fake.messages_to(CITIZEN)[seen:]),
            process,
            log,
            timeout=15,
        )
    last = fake.messages_to(CITIZEN)[-1]
    return last.split("Kode laporan: ", 1)[1].split()[0]


def alert_log(database_url: str, code: str) -> str:
    """`python -m bot alert-log CODE`, as a coordinator on the server runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "alert-log", code],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_poll_with_twilio_settings_sends_the_whatsapp_alert_as_the_template(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    add_contacts(db, ("Pelopor Telegram", "5001", None), ("Pelopor WhatsApp", None, "+6281200000001"))
    log = tmp_path / "poll.log"
    settings = telegram_settings(database_url, fake_telegram) | twilio_settings(fake_twilio)
    with bot_process("poll", log, **settings) as bot:
        code = report_on_telegram(fake_telegram, bot, log)
        wait_for(
            "the WhatsApp alert",
            lambda: fake_twilio.sent and fake_telegram.messages_to(5001),
            bot,
            log,
            timeout=15,
        )
        stop(bot, log)

    assert "receiving on telegram (polling); sending on telegram, whatsapp" in log.read_text()
    [telegram_alert] = fake_telegram.messages_to(5001)
    assert code in telegram_alert and "PERINGATAN DINI" in telegram_alert
    # The WhatsApp pioneer never wrote to the bot, so only the approved template may reach them.
    [whatsapp_alert] = fake_twilio.sent
    assert whatsapp_alert["to"] == "whatsapp:+6281200000001"
    assert whatsapp_alert["content_sid"] == TEMPLATE
    assert whatsapp_alert["content_variables"]["1"] == code
    assert "Karangrejo" in whatsapp_alert["content_variables"]["4"]
    assert "Kode laporan" in fake_telegram.messages_to(CITIZEN)[-1]
    assert "diteruskan kepada petugas" in fake_telegram.messages_to(CITIZEN)[-1]


def test_poll_with_an_sms_number_sends_the_alert_by_sms_to_a_pioneer_with_a_feature_phone(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    with db.transaction() as session:
        session.add(Contact(name="Pak Wiryo", role="pelopor", region_code="35.09.21", sms="+6281200000009"))
    log = tmp_path / "poll.log"
    settings = telegram_settings(database_url, fake_telegram) | {
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "TWILIO_SMS_FROM": SMS_NUMBER,
        "TWILIO_API_URL": fake_twilio.base_url,
    }
    with bot_process("poll", log, **settings) as bot:
        code = report_on_telegram(fake_telegram, bot, log)
        wait_for("the SMS alert", lambda: fake_twilio.sent, bot, log, timeout=15)
        stop(bot, log)

    assert "receiving on telegram (polling); sending on sms, telegram" in log.read_text()
    [alert] = fake_twilio.sent
    assert (alert["to"], alert["from_"]) == ("+6281200000009", SMS_NUMBER)
    assert code in alert["body"] and f"TANGANI {code}" in alert["body"]
    assert segments(alert["body"]) <= 2  # raises on any character that would make it UCS-2


def test_poll_without_twilio_settings_fails_the_whatsapp_only_delivery_with_the_reason(
    db: Database, database_url: str, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    add_contacts(
        db,
        ("Pelopor WhatsApp", None, "+6281200000002"),
        ("Pelopor Dua Saluran", "5002", "+6281200000003"),
    )
    log = tmp_path / "poll.log"
    with bot_process("poll", log, **telegram_settings(database_url, fake_telegram)) as bot:
        code = report_on_telegram(fake_telegram, bot, log)
        wait_for("the Telegram alert", lambda: fake_telegram.messages_to(5002), bot, log, timeout=15)
        stop(bot, log)

    assert "receiving on telegram (polling); sending on telegram" in log.read_text()
    # The pioneer with both channels gets it on the one this bot can send.
    [alert] = fake_telegram.messages_to(5002)
    assert code in alert
    with db.transaction() as session:
        report = session.scalars(select(Report)).one()
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.incident_id == report.incident_id)
        ).all()
        by_channel = {(row.channel, row.address): (row.status, row.last_error) for row in rows}
    assert by_channel[("telegram", "5002")] == ("sent", None)
    status, reason = by_channel[("whatsapp", "+6281200000002")]
    assert status == "failed" and "TWILIO_ACCOUNT_SID" in reason
    # Nothing is left waiting for a sender that will never come.
    assert all(status != "pending" for status, _ in by_channel.values())
    shown = alert_log(database_url, code)
    assert "Pelopor WhatsApp (pelopor, whatsapp): gagal: whatsapp is not set up" in shown
    assert "Pelopor Dua Saluran (pelopor, telegram): terkirim" in shown


def test_serve_with_telegram_polling_takes_whatsapp_and_telegram_in_one_server(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    sock = free_socket()
    public_url = url_of(sock)
    sock.close()
    settings = telegram_settings(database_url, fake_telegram) | twilio_settings(fake_twilio)
    settings |= {
        "TELEGRAM_UPDATES": "polling",
        # The polled updates go to an engine process of its own; the webhooks stay in the web process.
        "ENGINE_PROCESS": "1",
        "PUBLIC_URL": public_url,
        "PORT": public_url.rsplit(":", 1)[1],
    }
    log = tmp_path / "serve.log"
    with bot_process("serve", log, **settings) as bot:
        wait_for("the web server", lambda: reachable(public_url), bot, log, timeout=30)
        # A villager on WhatsApp, through Twilio's signed webhook.
        form = inbound_params("+6281300000009", "halo pak")
        signature = sign_twilio_request(fake_twilio.auth_token, public_url + "/whatsapp/webhook", form)
        answer = httpx.post(
            public_url + "/whatsapp/webhook", data=form, headers={"X-Twilio-Signature": signature}
        )
        assert answer.status_code == 200
        # And one on Telegram, fetched by long polling in the same process.
        fake_telegram.push_update(fake_telegram.text_update(CITIZEN, "halo"))
        wait_for(
            "both greetings",
            lambda: fake_twilio.messages_to("whatsapp:+6281300000009") and fake_telegram.messages_to(CITIZEN),
            bot,
            log,
            timeout=15,
        )
        # The Telegram webhook stays closed: updates come by polling only.
        assert httpx.post(public_url + "/telegram/webhook", json={"update_id": 1}).status_code == 404
        stop(bot, log)

    assert (
        "receiving on telegram (polling), whatsapp (webhook); sending on telegram, whatsapp"
        in log.read_text()
    )
    assert fake_telegram.webhook_url == ""
    assert "Selamat datang" in fake_twilio.messages_to("whatsapp:+6281300000009")[0]
    assert "Selamat datang" in fake_telegram.messages_to(CITIZEN)[0]


def reachable(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def test_rows_waiting_on_a_channel_without_settings_move_to_telegram_or_fail(
    db: Database, fake_telegram: FakeTelegram
) -> None:
    """Rows queued before a restart without Twilio settings: nobody is left believing they were sent."""
    add_contacts(
        db, ("Pelopor Dua Saluran", "5003", "+6281200000005"), ("Pelopor WhatsApp", None, "+6281200000006")
    )
    with db.transaction() as session:
        for contact in session.scalars(select(Contact).order_by(Contact.id)):
            row = enqueue(
                session,
                channel="whatsapp",
                address=contact.whatsapp,
                reply=Reply("PERINGATAN DINI"),
                now=utcnow(),
            )
            row.contact_id = contact.id
    missing = Settings(telegram_bot_token="x").missing_to_send()
    async with make_bot(fake_telegram.token, fake_telegram.base_url) as bot:
        dispatcher = Dispatcher(db, {"telegram": TelegramSender(bot)}, Limits({}, {}), unsendable=missing)
        await dispatcher.drain()

    assert fake_telegram.messages_to(5003) == ["PERINGATAN DINI"]
    with db.transaction() as session:
        rows = {row.address: row for row in session.scalars(select(OutboxMessage))}
    assert (rows["5003"].channel, rows["5003"].status) == ("telegram", "sent")
    lost = rows["+6281200000006"]
    assert (lost.channel, lost.status) == ("whatsapp", "failed")
    assert (
        lost.last_error
        == "whatsapp is not set up: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM not set"
    )


def test_half_of_a_channels_settings_stops_the_start_naming_what_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "poll"],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: TWILIO_AUTH_TOKEN is not set; whatsapp needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
        "TWILIO_WHATSAPP_FROM to send. See .env.example."
    )
