"""UU PDP end to end: a report by WhatsApp, /dataku, HAPUS DATA, and a log without anyone's number or name.

`python -m bot serve` runs with Telegram (polling) and WhatsApp (signed webhook) at LOG_LEVEL=DEBUG, so
every logger says all it would; afterwards the log is searched for every number, name, chat id and token
the scenario used.
"""

from __future__ import annotations

from pathlib import Path

from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio
from processes import bot_process, stop, wait_for
from sqlalchemy import select
from test_pioneers_live import People, reachable, settings_for

from models.db import Database
from models.tables import Contact, Conversation, OutboxMessage, Report

CITIZEN = "+6281298765432"
CITIZEN_LOCAL = "081298765432"
CITIZEN_NAME = "Siti Aminah"
PIONEER_CHAT = 734019283
PIONEER_NAME = "Pordam Wiryawan"

# A whole report on WhatsApp, answered by number and in everyday words; the reporter names herself.
REPORT = (
    ("lapor", "jenis kejadiannya"),
    ("2", "Di mana"),
    ("desa karangrejo kec sumbersari jember", "benar?"),
    ("iya bener", "Kapan"),
    ("tadi malam jam 9", "Ceritakan"),
    (f"Dua kelompok pelajar lempar batu. Saya {CITIZEN_NAME}, hubungi {CITIZEN_LOCAL}", "orang"),
    ("sekitar 30 orang", "tanda bahaya"),
    ("ada yg bawa celurit", "kelompok"),
    ("ga ada", "foto"),
    ("ga ada", "menghubungi"),
    ("anonim aja", "Kirim laporan ini?"),
    ("oke kirim", "LPR-"),
)


def test_a_reporter_sees_and_erases_their_data_and_no_log_line_names_anyone(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    with db.transaction() as session:
        session.add(
            Contact(
                name=PIONEER_NAME, role="pelopor", region_code="35.09", telegram_chat_id=str(PIONEER_CHAT)
            )
        )
    settings, public_url = settings_for(database_url, fake_telegram, fake_twilio)
    log = tmp_path / "serve.log"
    with bot_process("serve", log, **settings, LOG_LEVEL="DEBUG") as bot:
        wait_for("the web server", lambda: reachable(public_url), bot, log, timeout=30)
        people = People(fake_telegram, fake_twilio, public_url, bot, log)
        for said, expected in REPORT:
            done = people.on_whatsapp(CITIZEN, said, expected)
        wait_for("the alert", lambda: fake_telegram.messages_to(PIONEER_CHAT), bot, log, timeout=20)
        alert = fake_telegram.messages_to(PIONEER_CHAT)[0]

        mine = people.on_whatsapp(CITIZEN, "data saya", "Data Anda yang kami simpan")
        people.on_whatsapp(CITIZEN, "HAPUS DATA", "Hapus data Anda sekarang?")
        kept = people.on_whatsapp(CITIZEN, "ga jadi", "tidak dihapus")
        asked = people.on_whatsapp(CITIZEN, "hapus data", "Hapus data Anda sekarang?")
        erased = people.on_whatsapp(CITIZEN, "iya", "sudah dihapus")
        again = people.on_whatsapp(CITIZEN, "halo", "Selamat datang")
        stop(bot, log)

    code = done[done.index("LPR-") : done.index("LPR-") + 9]
    assert code in mine and "+62812*****432" in mine and CITIZEN not in mine
    assert "anonim" in mine
    assert "tidak dihapus" in kept
    assert "(1)" in asked  # the one report that stays, said before anything is erased
    assert "1 laporan tanpa identitas" in erased
    assert again
    with db.transaction() as session:
        [report] = session.scalars(select(Report)).all()
        conversations = session.scalars(select(Conversation).order_by(Conversation.id)).all()
        copies = session.scalars(
            select(OutboxMessage.text).where(OutboxMessage.address == CITIZEN).order_by(OutboxMessage.id)
        ).all()
    # The report stays, anonymous: the story as the alert masked it, no name, no number.
    assert report.code == code
    assert CITIZEN_NAME not in report.description and CITIZEN_LOCAL not in report.description
    assert "lempar batu" in report.description
    assert (report.anonymous, report.may_contact) == (True, False)
    # The old conversation lost its number; the "halo" after it began a new one.
    assert conversations[0].address == f"erased:{conversations[0].id}" and conversations[0].erased_at
    assert conversations[0].state == {} and conversations[0].flow is None
    assert [c.address for c in conversations[1:]] == [CITIZEN]
    # Of the copies of messages to her, only those after the erasure are left: its confirmation, the welcome.
    assert "sudah dihapus" in copies[0] and len(copies) == 2
    assert CITIZEN_NAME not in alert and CITIZEN_LOCAL not in alert

    logged = log.read_text()
    assert "DEBUG" in logged or "INFO" in logged  # the log was written, at the most talkative level
    for secret in (
        CITIZEN,
        CITIZEN.removeprefix("+"),
        CITIZEN_LOCAL,
        CITIZEN_NAME,
        PIONEER_NAME,
        str(PIONEER_CHAT),
        fake_telegram.token,
        fake_telegram.token.split(":")[1],
        fake_twilio.auth_token,
    ):
        assert secret not in logged, f"{secret!r} is in the log"
