"""A crash during a fan-out loses nobody: the bot killed mid-send and started again reaches every contact."""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter
from pathlib import Path

from chat import Chat
from fakes.telegram_api import FakeTelegram
from processes import bot_process, wait_for
from sqlalchemy import func, select

from bot.dispatcher import CONCURRENCY
from models.db import Database
from models.tables import SENDING, SENT, Contact, OutboxMessage

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
    assert duplicates <= in_flight, (duplicates, in_flight)
    assert duplicates <= CONCURRENCY, (duplicates, CONCURRENCY)
