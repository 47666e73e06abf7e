"""One report fanned out through the real python-telegram-bot, with the provider failing every way it can."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from chat import Chat
from fakes.telegram_api import FakeTelegram
from servers import Outbox
from sqlalchemy import select
from telegram import Bot

from bot.channels.telegram import TelegramSender, make_bot
from bot.limits import Limits
from models.db import Database
from models.tables import Contact, OutboxMessage

INSIDE = [str(2000 + n) for n in range(30)]  # pioneers and forum members of Sumbersari and Jember
OUTSIDE = [str(3000 + n) for n in range(5)]  # another district and another regency
BLOCKED, MIGRATED, NEW_ID = INSIDE[0], INSIDE[1], "-1009999"
FLOODED, BROKEN = INSIDE[2:5], INSIDE[5:8]


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake_telegram.token, fake_telegram.base_url, timeout=2) as bot:
        yield bot


def add_contacts(db: Database) -> None:
    with db.transaction() as session:
        for n, chat_id in enumerate(INSIDE):
            region = ("35.09.21", "35.09.21.1004", "35.09")[n % 3]
            session.add(
                Contact(name=f"Pelopor {n}", role="pelopor", region_code=region, telegram_chat_id=chat_id)
            )
        for n, chat_id in enumerate(OUTSIDE):
            region = ("35.09.22", "35.10")[n % 2]
            session.add(Contact(name=f"Luar {n}", role="fkdm", region_code=region, telegram_chat_id=chat_id))


async def test_every_reachable_contact_gets_the_alert_exactly_once(
    db: Database, bot: Bot, fake_telegram: FakeTelegram
) -> None:
    add_contacts(db)
    fake_telegram.fail_next(BLOCKED, "403")
    fake_telegram.fail_next(MIGRATED, "migrate", new_chat_id=int(NEW_ID))
    for chat_id in FLOODED:
        fake_telegram.fail_next(chat_id, "429", retry_after=5)
    for chat_id in BROKEN:
        fake_telegram.fail_next(chat_id, "500", times=2)
    reporter = Chat(db)
    reporter.say(
        "lapor",
        "2",
        "desa karangrejo kec sumbersari jember",
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
    code = reporter.reports()[0].code

    outbox = Outbox(db, TelegramSender(bot))
    await outbox.dispatcher.drain()
    for _ in range(3):
        await outbox.later()

    reachable = [c for c in INSIDE if c not in (BLOCKED, MIGRATED)] + [NEW_ID]
    for chat_id in reachable:
        received = fake_telegram.messages_to(chat_id)
        assert len(received) == 1, (chat_id, received)
        assert code in received[0] and "PERINGATAN DINI" in received[0]
    for chat_id in [*OUTSIDE, BLOCKED, MIGRATED]:
        assert fake_telegram.messages_to(chat_id) == []
    with db.transaction() as session:
        statuses = {
            m.address: m.status
            for m in session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "telegram"))
        }
        blocked = session.scalars(select(Contact).where(Contact.telegram_chat_id == BLOCKED)).one()
        assert blocked.unreachable_reason and "403" in blocked.unreachable_reason
        assert session.scalars(select(Contact).where(Contact.telegram_chat_id == NEW_ID)).one()
    assert statuses.pop(BLOCKED) == "failed"
    assert set(statuses) == set(reachable)
    assert set(statuses.values()) == {"sent"}


async def test_a_message_waiting_at_the_limit_past_its_lease_is_not_sent_twice(
    db: Database, bot: Bot, fake_telegram: FakeTelegram
) -> None:
    """A fan-out claimed at once waits its turn at the rate limit; its lease may run out meanwhile, and the
    next claim of the same process must not take those messages again."""
    chats = [str(4000 + n) for n in range(40)]
    outbox = Outbox(db, TelegramSender(bot), lease_seconds=60)
    outbox.dispatcher.limits = Limits(per_channel={"telegram": 20}, per_chat={})
    for chat in chats:
        outbox.queue(chat, "Mohon pantau wilayah masing-masing malam ini.")
    async with outbox.dispatcher._connected():
        sending = asyncio.create_task(outbox.dispatcher.run_once())
        while len(fake_telegram.sent) < 5:
            await asyncio.sleep(0.01)
        outbox.clock.advance(61)  # every lease of the first claim has run out
        outbox.dispatcher.wake.set()  # as when a reply is queued: claim again at once
        await sending
    twice = [chat for chat in chats if len(fake_telegram.messages_to(chat)) != 1]
    assert twice == [], "each pioneer gets the message once"
