"""Pioneers end to end: real processes, real python-telegram-bot and twilio clients, fake Telegram and Twilio.

A coordinator made by `python -m bot invite` joins on Telegram, invites a pioneer who joins on WhatsApp
through Twilio's signed webhook and links Telegram too; a used code is refused; a /cekwilayah round is
answered with a button and Rawan reaches the coordinator. Then a check-in round that fell due while
the bot was stopped runs once when two `serve` processes start on one PostgreSQL database.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio, inbound_params, sign_twilio_request
from processes import ROOT, bot_process, stop, wait_for
from servers import free_socket, url_of
from sqlalchemy import func, select

from models.base import utcnow
from models.db import Database
from models.tables import Checkin, Contact, Schedule

COORDINATOR, PIONEER_TELEGRAM, STRANGER = 8001, 8002, 8003
PIONEER_WHATSAPP = "+6281234500001"
_CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b")


def invite_from_the_command_line(database_url: str) -> str:
    """`python -m bot invite koordinator 35.09`, as the operator makes the first coordinator."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "invite", "koordinator", "35.09"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Kabupaten Jember, Jawa Timur" in result.stdout
    return _CODE.findall(result.stdout)[0]


class People:
    """Everyone in the test, writing the way their channel delivers it to the bot."""

    def __init__(self, telegram: FakeTelegram, twilio: FakeTwilio, public_url: str, bot, log: Path) -> None:  # type: ignore[no-untyped-def]
        self.telegram, self.twilio, self.public_url, self.bot, self.log = (
            telegram,
            twilio,
            public_url,
            bot,
            log,
        )

    def on_telegram(self, chat_id: int, text: str, expect: str) -> str:
        seen = len(self.telegram.messages_to(chat_id))
        self.telegram.push_update(self.telegram.text_update(chat_id, text))
        return self._wait(lambda: self.telegram.messages_to(chat_id)[seen:], expect, text)

    def press(self, chat_id: int, data: str, expect: str, reader: int | None = None) -> str:
        heard_by = reader or chat_id
        seen = len(self.telegram.messages_to(heard_by))
        self.telegram.push_update(self.telegram.callback_update(chat_id, data))
        return self._wait(lambda: self.telegram.messages_to(heard_by)[seen:], expect, data)

    def on_whatsapp(self, number: str, text: str, expect: str) -> str:
        to = f"whatsapp:{number}"
        seen = len(self.twilio.messages_to(to))
        form = inbound_params(number, text)
        url = self.public_url + "/whatsapp/webhook"
        signature = sign_twilio_request(self.twilio.auth_token, url, form)
        assert httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
        return self._wait(lambda: self.twilio.messages_to(to)[seen:], expect, text)

    def _wait(self, new, expect: str, said: str) -> str:  # type: ignore[no-untyped-def]
        found: list[str] = []

        def heard() -> bool:
            found[:] = [t for t in new() if expect in t]
            return bool(found)

        wait_for(f"an answer to {said!r} containing {expect!r}", heard, self.bot, self.log, timeout=20)
        return found[0]


def settings_for(database_url: str, telegram: FakeTelegram, twilio: FakeTwilio) -> tuple[dict[str, str], str]:
    sock = free_socket()
    public_url = url_of(sock)
    sock.close()
    return {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "TELEGRAM_UPDATES": "polling",
        "TELEGRAM_MESSAGES_PER_CHAT_PER_SECOND": "50",
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "TWILIO_API_URL": twilio.base_url,
        "PUBLIC_URL": public_url,
        "PORT": public_url.rsplit(":", 1)[1],
    }, public_url


def reachable(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_invitations_on_both_channels_and_a_check_in_round(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    first_code = invite_from_the_command_line(database_url)
    settings, public_url = settings_for(database_url, fake_telegram, fake_twilio)
    log = tmp_path / "serve.log"
    with bot_process("serve", log, **settings) as bot:
        wait_for("the web server", lambda: reachable(public_url), bot, log, timeout=30)
        people = People(fake_telegram, fake_twilio, public_url, bot, log)

        people.on_telegram(COORDINATOR, f"/daftar {first_code}", "Siapa nama Anda?")
        people.on_telegram(COORDINATOR, "Bu Ani Rahayu", "Kabupaten Jember, Jawa Timur — benar?")
        people.on_telegram(COORDINATOR, "ya", "terdaftar sebagai koordinator")

        created = people.on_telegram(COORDINATOR, "/undang pelopor kec sumbersari jember", "Kode undangan")
        pioneer_code = _CODE.findall(created)[0]
        people.on_whatsapp(PIONEER_WHATSAPP, f"daftar {pioneer_code.lower()}", "Siapa nama Anda?")
        people.on_whatsapp(
            PIONEER_WHATSAPP, "Budi Santoso", "Sumbersari, Kabupaten Jember, Jawa Timur — benar?"
        )
        people.on_whatsapp(PIONEER_WHATSAPP, "iya", "terdaftar sebagai Pelopor Perdamaian")
        people.on_telegram(STRANGER, f"/daftar {pioneer_code}", "sudah dipakai")

        link = people.on_whatsapp(PIONEER_WHATSAPP, "hubungkan", "Kode untuk menghubungkan")
        people.on_telegram(PIONEER_TELEGRAM, f"/daftar {_CODE.findall(link)[0]}", "terhubung")

        people.on_telegram(COORDINATOR, "/cekwilayah 35.09.21", "dikirim kepada 1 pelopor")
        wait_for(
            "the check-in question on Telegram",
            lambda: any(
                "Bagaimana keadaan wilayah" in t for t in fake_telegram.messages_to(PIONEER_TELEGRAM)
            ),
            bot,
            log,
            timeout=20,
        )
        people.press(PIONEER_TELEGRAM, "checkin:rawan", "RAWAN", reader=COORDINATOR)
        stop(bot, log)

    with db.transaction() as session:
        [budi] = session.scalars(select(Contact).where(Contact.name == "Budi Santoso")).all()
        assert (budi.role, budi.region_code) == ("pelopor", "35.09.21")
        assert (budi.telegram_chat_id, budi.whatsapp) == (str(PIONEER_TELEGRAM), PIONEER_WHATSAPP)
        assert session.scalars(select(Checkin.answer)).all() == ["rawan"]
    assert "+62812345" not in log.read_text()  # numbers stay out of the log


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_round_due_while_the_bot_was_stopped_runs_once_with_two_processes(
    db: Database, database_url: str, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    pioneers = [str(400_000 + n) for n in range(40)]
    now = utcnow()
    due = (now - timedelta(minutes=30)).astimezone(ZoneInfo("Asia/Jakarta"))
    with db.transaction() as session:
        session.add_all(
            Contact(name=f"Pelopor {n}", role="pelopor", region_code="35.09.21", telegram_chat_id=chat_id)
            for n, chat_id in enumerate(pioneers)
        )
        # The bot last looked two hours ago, then stopped; the day's round fell due half an hour ago.
        session.add(Schedule(name="checkin", last_due_at=now - timedelta(hours=2)))
    common = {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": fake_telegram.token,
        "TELEGRAM_API_URL": fake_telegram.base_url,
        "TELEGRAM_WEBHOOK_SECRET": "rahasia-webhook-123",
        "CHECKIN_SCHEDULE": f"{due.minute} {due.hour} * * *",
    }
    logs = tmp_path / "first.log", tmp_path / "second.log"
    ports = []
    for _ in logs:
        sock = free_socket()
        ports.append(str(sock.getsockname()[1]))
        sock.close()
    with (
        bot_process("serve", logs[0], **common, PORT=ports[0]) as first,
        bot_process("serve", logs[1], **common, PORT=ports[1]) as second,
    ):
        wait_for(
            "every pioneer to be asked",
            lambda: all(fake_telegram.messages_to(chat) for chat in pioneers),
            first,
            logs[0],
            timeout=60,
        )
        assert second.poll() is None, logs[1].read_text()
        stop(first, logs[0])
        stop(second, logs[1])

    for chat in pioneers:
        assert len(fake_telegram.messages_to(chat)) == 1, "asked once, not once per process"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Checkin)) == len(pioneers)


def test_poll_asks_a_whatsapp_pioneer_with_the_check_in_template(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    template = "HX" + "7" * 32
    with db.transaction() as session:
        session.add_all(
            [
                Contact(
                    name="Bu Ani", role="koordinator", region_code="35.09", telegram_chat_id=str(COORDINATOR)
                ),
                Contact(name="Pak Wahyu", role="pelopor", region_code="35.09.21", whatsapp=PIONEER_WHATSAPP),
            ]
        )
    settings, _ = settings_for(database_url, fake_telegram, fake_twilio)
    settings = {k: v for k, v in settings.items() if k not in ("TELEGRAM_UPDATES", "PUBLIC_URL", "PORT")}
    log = tmp_path / "poll.log"
    with bot_process("poll", log, **settings, TWILIO_TEMPLATE_CHECKIN=template) as bot:
        people = People(fake_telegram, fake_twilio, "", bot, log)
        people.on_telegram(COORDINATOR, "cekwilayah sumbersari jember", "dikirim kepada 1 pelopor")
        wait_for("the WhatsApp check-in", lambda: fake_twilio.sent, bot, log, timeout=20)
        stop(bot, log)
    # Pak Wahyu never wrote to the bot: only the approved template may reach him.
    [question] = fake_twilio.sent
    assert question["to"] == f"whatsapp:{PIONEER_WHATSAPP}" and question["content_sid"] == template
    assert question["content_variables"] == {
        "1": "Pak Wahyu",
        "2": "Sumbersari, Kabupaten Jember, Jawa Timur",
    }
