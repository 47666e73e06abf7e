"""SIGKILL at the worst moments: during a fan-out, while a message is being stored, while a reply is sent.

After the restart every contact gets the alert, every conversation resumes at its question, every answer
is handled once, and duplicates are at most what was in flight.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from chat import EVERYDAY_REPORT, Chat
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import FakeTwilio, inbound_params, sign_twilio_request
from processes import bot_process, stop, wait_for
from servers import database_held
from sqlalchemy import func, select
from test_pioneers_live import People, reachable, settings_for

from models.db import Database
from models.tables import SENDING, SENT, Contact, InboundMessage, OutboxMessage, Report

logger = logging.getLogger(__name__)

CHAT_IDS = list(range(10001, 10501))
# Kill the bot once this many alerts have gone out, so a good part of the fan-out is still to come.
KILL_AFTER = 150
KILL_BEFORE = 250


def add_contacts(db: Database) -> None:
    """500 pelopor of Sumbersari, each with a Telegram chat."""
    with db.transaction() as session:
        session.add_all(
            Contact(name=f"Pelopor {n}", role="pelopor", region_code="35.09.21", telegram_chat_id=str(n))
            for n in CHAT_IDS
        )


def file_report(db: Database) -> None:
    """A report with a danger sign from Sumbersari: one transaction queues an alert to all 500."""
    Chat(db).say(
        "lapor",
        "2",
        "kec sumbersari jember",
        "ya",
        "sekarang",
        "Dua kelompok membawa sajam di pasar",
        "3",
        "1",
        "tidak ada",
        "lewati",
        "1",
        "kirim",
    )


def alerts(db: Database, status: str | None = None) -> int:
    """Alert rows in the outbox, in one status or all of them."""
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == "alert")
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    with db.transaction() as session:
        return session.scalar(query) or 0


def poll_settings(database_url: str, fake: FakeTelegram) -> dict[str, str]:
    """`python -m bot poll` pointed at the fake, fast, with a short lease so the restart retakes soon."""
    return {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.base_url,
        "TELEGRAM_MESSAGES_PER_SECOND": "100",
        "OUTBOX_LEASE_SECONDS": "3",
    }


def test_a_crash_during_a_fan_out_loses_nobody(
    db: Database, database_url: str, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    add_contacts(db)
    file_report(db)
    assert alerts(db) == len(CHAT_IDS)

    first_log = tmp_path / "first.log"
    with bot_process("poll", first_log, **poll_settings(database_url, fake_telegram)) as first:
        wait_for(
            f"{KILL_AFTER} alerts to go out",
            lambda: len(fake_telegram.sent) >= KILL_AFTER,
            first,
            first_log,
            timeout=30,
            every=0.005,
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    sent_before_kill = len(fake_telegram.sent)
    in_flight = alerts(db, SENDING)  # claimed and not known to be sent: each may go out twice
    assert KILL_AFTER <= sent_before_kill <= KILL_BEFORE, "killed too late; the fan-out was too fast"
    assert in_flight > 0, "the kill should have caught sends under way"
    assert alerts(db, SENT) < len(CHAT_IDS)

    second_log = tmp_path / "second.log"
    with bot_process("poll", second_log, **poll_settings(database_url, fake_telegram)) as second:
        wait_for(
            "every alert to be sent",
            lambda: alerts(db, SENT) == len(CHAT_IDS),
            second,
            second_log,
            timeout=60,
            every=0.1,
        )
        second.send_signal(signal.SIGTERM)
        returncode = second.wait(timeout=15)
    assert returncode in (0, -signal.SIGTERM), second_log.read_text()

    received = Counter(int(sent["chat_id"]) for sent in fake_telegram.sent)
    assert set(received) == set(CHAT_IDS), "everyone got the alert, and nobody else did"
    duplicates = sum(received.values()) - len(received)
    logger.info(
        "killed after %d sends, %d claimed and not recorded, %d duplicates",
        sent_before_kill,
        in_flight,
        duplicates,
    )
    # The bound is what was claimed and not recorded, not the sends under way at once (CONCURRENCY): a
    # send's slot is free again before its outcome is committed with the others (a group commit).
    assert duplicates <= in_flight, (duplicates, in_flight)


# -- A crash in the middle of conversations ------------------------------------------------------------------

TELEGRAM_CITIZEN = 20001
WHATSAPP_CITIZEN = "+6281277700001"
# Killed while the sixth answer of each is being stored, and again while a reply to the eighth is sent.
KILLED_STORING, KILLED_SENDING = 5, 7


def sending(db: Database) -> list[tuple[str, str]]:
    """Messages claimed and not known to be sent: each may go out twice after a crash."""
    with db.transaction() as session:
        rows = session.execute(
            select(OutboxMessage.address, OutboxMessage.text).where(OutboxMessage.status == SENDING)
        ).all()
    return [(address, text) for address, text in rows]


def post_whatsapp(public_url: str, auth_token: str, body: str, sid: str) -> int | str:
    """A message as Twilio posts it; the status, or the error when the server went away mid-request."""
    form = inbound_params(WHATSAPP_CITIZEN, body) | {"MessageSid": sid}
    url = public_url + "/whatsapp/webhook"
    headers = {"X-Twilio-Signature": sign_twilio_request(auth_token, url, form)}
    try:
        return httpx.post(url, data=form, headers=headers, timeout=60).status_code
    except httpx.HTTPError as error:
        return type(error).__name__


def test_a_crash_mid_conversation_loses_no_answer_and_answers_once(
    db: Database, database_url: str, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    settings, public_url = settings_for(database_url, fake_telegram, fake_twilio)
    # Blocked turns wait for the database rather than give up; leases run out fast after the crash.
    settings |= {"DB_STATEMENT_TIMEOUT_SECONDS": "120", "OUTBOX_LEASE_SECONDS": "3"}
    logs = [tmp_path / f"serve-{n}.log" for n in range(3)]
    sids = iter(f"SM{n:032d}" for n in range(1, 100))

    def last_on_telegram() -> list[str]:
        return fake_telegram.messages_to(TELEGRAM_CITIZEN)[-1:]

    def last_on_whatsapp() -> list[str]:
        return fake_twilio.messages_to(f"whatsapp:{WHATSAPP_CITIZEN}")[-1:]

    def on_whatsapp(people: People, said: str, expect: str) -> None:
        sid = next(sids)
        assert post_whatsapp(public_url, fake_twilio.auth_token, said, sid) == 200
        people._wait(last_on_whatsapp, expect, said)

    with bot_process("serve", logs[0], **settings) as bot:
        wait_for("the web server", lambda: reachable(public_url), bot, logs[0], timeout=30)
        people = People(fake_telegram, fake_twilio, public_url, bot, logs[0])
        for said, expect in EVERYDAY_REPORT[:KILLED_STORING]:
            people.on_telegram(TELEGRAM_CITIZEN, said, expect)
            on_whatsapp(people, said, expect)
        said, _ = EVERYDAY_REPORT[KILLED_STORING]
        # Both answers arrive while the database is held: received, not yet stored, then SIGKILL.
        with database_held(database_url):
            telegram_update = fake_telegram.push_update(fake_telegram.text_update(TELEGRAM_CITIZEN, said))
            polls = len(fake_telegram.calls("getUpdates"))
            whatsapp_sid = next(sids)
            pending: list[int | str] = []
            posting = threading.Thread(
                target=lambda: pending.append(
                    post_whatsapp(public_url, fake_twilio.auth_token, said, whatsapp_sid)
                )
            )
            posting.start()
            time.sleep(1.5)
            # The bot took the update (no new getUpdates while it is stuck storing it) and has not answered.
            assert len(fake_telegram.calls("getUpdates")) <= polls + 1
            os.kill(bot.pid, signal.SIGKILL)
            bot.wait(timeout=10)
            posting.join(30)
    in_flight = sending(db)
    # Twilio was not told 200, so it delivers again; Telegram's offset was not moved, so it does too.
    assert pending and pending[0] != 200, pending
    assert telegram_update in fake_telegram.pending_updates()

    with bot_process("serve", logs[1], **settings) as bot:
        wait_for("the web server", lambda: reachable(public_url), bot, logs[1], timeout=30)
        people = People(fake_telegram, fake_twilio, public_url, bot, logs[1])
        people._wait(
            lambda: fake_telegram.messages_to(TELEGRAM_CITIZEN)[-1:], EVERYDAY_REPORT[KILLED_STORING][1], said
        )
        assert post_whatsapp(public_url, fake_twilio.auth_token, said, whatsapp_sid) == 200
        people._wait(
            lambda: fake_twilio.messages_to(f"whatsapp:{WHATSAPP_CITIZEN}")[-1:],
            EVERYDAY_REPORT[KILLED_STORING][1],
            said,
        )
        people.on_telegram(TELEGRAM_CITIZEN, *EVERYDAY_REPORT[KILLED_STORING + 1])
        on_whatsapp(people, *EVERYDAY_REPORT[KILLED_STORING + 1])
        # The reply to the next Telegram answer hangs at Telegram; the bot dies while sending it.
        fake_telegram.fail_next(TELEGRAM_CITIZEN, "timeout", delay=30)
        fake_telegram.push_update(
            fake_telegram.text_update(TELEGRAM_CITIZEN, EVERYDAY_REPORT[KILLED_SENDING][0])
        )
        wait_for(
            "the reply to be under way",
            lambda: any(
                r["method"].lower() == "sendmessage" and r.get("status") is None
                for r in fake_telegram.requests
            ),
            bot,
            logs[1],
            timeout=20,
        )
        os.kill(bot.pid, signal.SIGKILL)
        bot.wait(timeout=10)
    in_flight += sending(db)

    with bot_process("serve", logs[2], **settings) as bot:
        wait_for("the web server", lambda: reachable(public_url), bot, logs[2], timeout=30)
        people = People(fake_telegram, fake_twilio, public_url, bot, logs[2])
        people._wait(
            lambda: fake_telegram.messages_to(TELEGRAM_CITIZEN)[-1:],
            EVERYDAY_REPORT[KILLED_SENDING][1],
            "the lost reply",
        )
        on_whatsapp(people, *EVERYDAY_REPORT[KILLED_SENDING])
        for said, expect in EVERYDAY_REPORT[KILLED_SENDING + 1 :]:
            people.on_telegram(TELEGRAM_CITIZEN, said, expect)
            on_whatsapp(people, said, expect)
        stop(bot, logs[2])

    telegram_heard = fake_telegram.messages_to(TELEGRAM_CITIZEN)
    whatsapp_heard = fake_twilio.messages_to(f"whatsapp:{WHATSAPP_CITIZEN}")
    with db.transaction() as session:
        reports = session.scalars(select(Report)).all()
        handled = session.scalar(select(func.count()).select_from(InboundMessage))
    # Both reports arrived whole; every answer was handled once (12 each), each question asked once,
    # except that the reply under way at the kill may have gone out twice.
    assert len(reports) == 2 and {r.description for r in reports} == {EVERYDAY_REPORT[5][0]}
    assert handled == 2 * len(EVERYDAY_REPORT)
    for heard in (telegram_heard, whatsapp_heard):
        for _, question in EVERYDAY_REPORT:
            asked = sum(question in message for message in heard)
            address = str(TELEGRAM_CITIZEN) if heard is telegram_heard else WHATSAPP_CITIZEN
            may_repeat = sum(question in text for to, text in in_flight if to == address)
            assert 1 <= asked <= 1 + may_repeat, (question, asked, may_repeat)
    logger.info("messages under way at the two kills: %d", len(in_flight))
