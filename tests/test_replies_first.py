"""A person's reply before any bulk message, at Telegram's real limits, with flood control enforced."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from chat import FULL_REPORT, Chat
from fakes.telegram_api import FakeTelegram
from servers import wait_until
from sqlalchemy import func, select, update
from test_telegram import polling

from models.db import Database
from models.tables import Contact, OutboxMessage

logger = logging.getLogger(__name__)

PIONEERS = [str(100_000 + n) for n in range(1000)]
CITIZENS = [8000 + n for n in range(20)]
FIRST_REPORTER = 7999
# Kecamatan of Jember with nobody registered, one per citizen, so their reports add no fan-out of their own.
PLACES = [
    "Kencong", "Sumberbaru", "Gumukmas", "Umbulsari", "Tanggul", "Semboro", "Puger", "Bangsalsari", "Balung",
    "Wuluhan", "Ambulu", "Rambipuji", "Panti", "Sukorambi", "Jenggawah", "Ajung", "Tempurejo", "Kaliwates",
    "Patrang", "Mumbulsari",
]  # fmt: skip
# Sends that may come between a citizen's message and the answer: those already under way, and what the
# channel sends while the message is fetched and handled. The fan-out behind them is hundreds.
AHEAD_AT_MOST = 30
PAUSE = 1.2  # people take a moment to read and type; the per-chat limit is one a second


def report_lines(place: str) -> list[tuple[str, str]]:
    """A report as a villager types it, with what the bot's answer to each line contains."""
    return [
        ("lapor", "jenis kejadiannya"),
        ("provokasi", "Di mana kejadiannya"),
        (f"kec {place} jember", "benar?"),
        ("ya", "Kapan kejadiannya"),
        ("barusan", "Ceritakan apa yang terjadi"),
        ("Ada yang menyebar ajakan ribut lewat grup WA warga", "berapa orang"),
        ("sekitar 10 orang", "tanda bahaya"),
        ("tidak ada", "kelompok rentan"),
        ("tidak ada", "foto"),
        ("tidak", "boleh menghubungi"),
        ("1", "periksa laporan"),
        ("kirim", "Kode laporan"),
    ]


def sends(fake: FakeTelegram) -> list[str]:
    """The chat of every message Telegram accepted, in order."""
    return [str(s["chat_id"]) for s in list(fake.sent)]


async def talk(fake: FakeTelegram, chat_id: int, lines: list[tuple[str, str]]) -> list[int]:
    """Type each line after reading the answer; for each, how many alerts went out before the answer."""
    pioneers = set(PIONEERS)
    ahead = []
    for typed, expected in lines:
        before = len(fake.sent)
        fake.push_update(fake.text_update(chat_id, typed))

        def answered(before: int = before, expected: str = expected) -> int | None:
            for index, sent in enumerate(list(fake.sent)[before:], start=before):
                if str(sent["chat_id"]) == str(chat_id) and expected in sent["text"]:
                    return index + 1
            return None

        answered_at = await wait_until(answered, timeout=40, what=f"{chat_id} to get {expected!r}")
        ahead.append(sum(chat in pioneers for chat in sends(fake)[before:answered_at]))
        await asyncio.sleep(PAUSE)
    return ahead


async def test_citizens_are_answered_ahead_of_a_thousand_alerts(
    db: Database, database_url: str, fake_telegram: FakeTelegram
) -> None:
    with db.transaction() as session:
        session.add_all(
            Contact(name=f"Pelopor {n}", role="pelopor", region_code="35.09.21", telegram_chat_id=chat_id)
            for n, chat_id in enumerate(PIONEERS)
        )
    # The first reporter has answered every question but the last, and read the answers.
    first = Chat(db, channel="telegram", address=str(FIRST_REPORTER))
    first.say(*(typed for typed, _ in report_lines("sumbersari")[:-1]))
    with db.transaction() as session:
        session.execute(update(OutboxMessage).values(status="sent"))
    fake_telegram.flood_control(per_second=30, per_chat=3)
    async with polling(database_url, fake_telegram, telegram_messages_per_chat_per_second=1.0) as app:
        # The last word of the first report queues 1,000 alerts; 20 citizens write while they go out.
        first_code, *everyone = await asyncio.gather(
            talk(fake_telegram, FIRST_REPORTER, report_lines("sumbersari")[-1:]),
            *(
                talk(fake_telegram, chat, report_lines(place))
                for chat, place in zip(CITIZENS, PLACES, strict=True)
            ),
        )
        replies_done = len(fake_telegram.sent)
        await wait_until(
            lambda: sum(chat in set(PIONEERS) for chat in sends(fake_telegram)) >= len(PIONEERS),
            timeout=120,
            what="every pioneer to get the alert",
        )

        def unsent() -> int:
            with app.db.transaction() as session:
                return session.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
                )

        # The last reply may still be on its way when the last alert arrives; then nothing is left.
        await wait_until(lambda: unsent() == 0, timeout=30, what="nothing left unsent")

    received = Counter(sends(fake_telegram))
    assert all(received[chat] == 1 for chat in PIONEERS), "every pioneer gets the alert once"
    assert fake_telegram.flood_refusals == 0, "Telegram never had to refuse a message"
    worst = max(first_code + [n for ahead in everyone for n in ahead])
    logger.info("at most %d alerts went out between a citizen's message and its answer", worst)
    assert worst <= AHEAD_AT_MOST, worst
    # The replies were tested against a fan-out still under way: alerts kept going out after the last one.
    alerts_after = sum(chat in set(PIONEERS) for chat in sends(fake_telegram)[replies_done:])
    assert alerts_after > 100, alerts_after
    # And each citizen got their code.
    for chat in CITIZENS:
        assert "Kode laporan: LPR-" in fake_telegram.messages_to(chat)[-1]


def test_a_pioneer_who_writes_is_not_stuck_behind_their_own_alert(db: Database) -> None:
    """Messages to one person keep their order, so a reply lifts the person's older ones with it."""
    with db.transaction() as session:
        session.add(Contact(name="Pelopor", role="pelopor", region_code="35.09.21", telegram_chat_id="55"))
        session.add(
            Contact(name="Pelopor Lain", role="pelopor", region_code="35.09.21", telegram_chat_id="56")
        )
    Chat(db).say(*FULL_REPORT)
    Chat(db, channel="telegram", address="55").send("/bantuan")
    with db.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.address.in_(["55", "56"]))).all()
    alert, reply = (row for row in rows if row.address == "55")
    assert (alert.purpose, reply.purpose) == ("alert", "reply")
    assert alert.id < reply.id and alert.priority == reply.priority == 0
    other = next(row for row in rows if row.address == "56")
    assert other.priority > 0, "nobody else's alert jumps the queue"
