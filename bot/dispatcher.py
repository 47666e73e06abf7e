"""Sends what is in the outbox: in order per person, within rate limits, retrying what failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.channels.base import Failed, Moved, Outcome, Outgoing, Retry, Sender, Sent
from models.base import utcnow
from models.db import Database
from models.tables import FAILED, PENDING, SENDING, SENT, Contact, Conversation, OutboxMessage

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 600.0
# A claimed message not finished within this time is taken again (its process died mid-send).
LEASE_SECONDS = 120


class RateLimiter:
    """A token bucket: at most `rate` a second on average, with a burst of `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more message may go out."""
        if self.rate <= 0:
            return
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass(frozen=True)
class Limits:
    """Messages a second per channel, and per chat where the provider limits that too."""

    per_channel: Mapping[str, float]
    per_chat: Mapping[str, float]
    chat_burst: float = 3.0


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds to wait before the next try: exponential with jitter, never less than the provider asked."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay *= random.uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


class Dispatcher:
    """Claims due outbox messages, sends them through the channel senders and records each outcome."""

    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        limits: Limits,
        *,
        max_attempts: int = 8,
        lease_seconds: float = LEASE_SECONDS,
        batch: int = 200,
        concurrency: int = 64,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.senders = dict(senders)
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.clock = clock
        self.channel_limiters = {ch: RateLimiter(rate) for ch, rate in limits.per_channel.items()}
        self.chat_limiters: dict[tuple[str, str], RateLimiter] = {}
        self.limits = limits
        self.slots = asyncio.Semaphore(concurrency)
        self.wake = asyncio.Event()

    # Claiming ------------------------------------------------------------

    def claim(self) -> list[list[Outgoing]]:
        """Take due messages for the channels this process can send, grouped per person, oldest first."""
        now = self.clock()
        with self.db.transaction() as session:
            due = (
                select(OutboxMessage)
                .where(OutboxMessage.channel.in_(self.senders))
                .where(
                    ((OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= now))
                    | ((OutboxMessage.status == SENDING) & (OutboxMessage.lease_until < now))
                )
                .order_by(OutboxMessage.id)
                .limit(self.batch)
            )
            if self.db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = list(session.scalars(due))
            if not rows:
                return []
            first_open = self._first_open(session, rows)
            groups: dict[tuple[str, str], list[OutboxMessage]] = defaultdict(list)
            for row in rows:
                key = (row.channel, row.address)
                # Only when the person's oldest unsent message is among these, so replies keep their order.
                if first_open.get(key) == row.id or groups.get(key):
                    groups[key].append(row)
            claimed = [row.id for group in groups.values() for row in group]
            if claimed:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(claimed))
                    .values(
                        status=SENDING,
                        lease_until=now + timedelta(seconds=self.lease_seconds),
                        attempts=OutboxMessage.attempts + 1,
                    )
                    # Leave the loaded rows as read, so `attempts` below counts this try once, not twice.
                    .execution_options(synchronize_session=False)
                )
            return [
                [
                    Outgoing(
                        id=r.id,
                        channel=r.channel,
                        address=r.address,
                        text=r.text,
                        choices=tuple((k, label) for k, label in r.choices),
                        attempts=r.attempts + 1,
                        purpose=r.purpose,
                        template_sid=r.template_sid,
                        template_variables=r.template_variables,
                    )
                    for r in group
                ]
                for group in groups.values()
            ]

    def _first_open(self, session: Session, rows: list[OutboxMessage]) -> dict[tuple[str, str], int]:
        """The oldest message not yet sent or failed, for each person among these rows."""
        addresses = {r.address for r in rows}
        found = session.execute(
            select(OutboxMessage.channel, OutboxMessage.address, func.min(OutboxMessage.id))
            .where(OutboxMessage.address.in_(addresses), OutboxMessage.status.in_((PENDING, SENDING)))
            .group_by(OutboxMessage.channel, OutboxMessage.address)
        )
        return {(channel, address): first for channel, address, first in found}

    # Sending ------------------------------------------------------------

    async def _send_group(self, group: list[Outgoing]) -> None:
        """Send one person's messages in order; after a failure the rest wait with it."""
        for index, message in enumerate(group):
            outcome = await self._send_one(message)
            if isinstance(outcome, Moved):
                await asyncio.to_thread(self._moved, message, outcome)
                outcome = await self._send_one(replace(message, address=outcome.new_address))
                if isinstance(outcome, Moved):
                    outcome = Failed("chat moved twice")
            await asyncio.to_thread(self.record, message, outcome)
            if isinstance(outcome, Retry):
                rest = [m.id for m in group[index + 1 :]]
                await asyncio.to_thread(self._release, rest)
                return

    async def _send_one(self, message: Outgoing) -> Outcome:
        sender = self.senders[message.channel]
        limiter = self.channel_limiters.get(message.channel)
        chat_rate = self.limits.per_chat.get(message.channel)
        async with self.slots:
            if chat_rate:
                key = (message.channel, message.address)
                if key not in self.chat_limiters:
                    self.chat_limiters[key] = RateLimiter(chat_rate, self.limits.chat_burst)
                await self.chat_limiters[key].acquire()
            if limiter is not None:
                await limiter.acquire()
            try:
                return await sender.send(message)
            except Exception as error:  # a sender bug must not lose the message
                logger.exception("%s sender raised", message.channel)
                return Retry(f"unexpected {type(error).__name__}")

    # Recording ------------------------------------------------------------

    def record(self, message: Outgoing, outcome: Outcome) -> None:
        """Store how a send went; schedule the retry or give up after the last attempt."""
        now = self.clock()
        with self.db.transaction() as session:
            row = session.get(OutboxMessage, message.id)
            if row is None:
                return
            row.lease_until = None
            if isinstance(outcome, Sent):
                row.status, row.sent_at, row.provider_id, row.last_error = (
                    SENT,
                    now,
                    outcome.provider_id,
                    None,
                )
            elif isinstance(outcome, Retry) and message.attempts < self.max_attempts:
                row.status, row.last_error = PENDING, outcome.reason[:300]
                row.next_attempt_at = now + timedelta(seconds=backoff(message.attempts, outcome.after))
                logger.warning("%s message %s will be retried: %s", message.channel, row.id, outcome.reason)
            else:
                reason = outcome.reason if isinstance(outcome, Failed | Retry) else "unknown"
                if isinstance(outcome, Retry):
                    reason = f"gave up after {message.attempts} tries: {reason}"
                row.status, row.last_error = FAILED, reason[:300]
                logger.error("%s message %s failed: %s", message.channel, row.id, reason)
                if isinstance(outcome, Failed) and outcome.unreachable:
                    self._unreachable(session, message, reason)

    def _release(self, ids: list[int]) -> None:
        """Give back messages that must wait behind a retried one; their attempt does not count."""
        if not ids:
            return
        with self.db.transaction() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(status=PENDING, lease_until=None, attempts=OutboxMessage.attempts - 1)
            )

    def _moved(self, message: Outgoing, moved: Moved) -> None:
        """A chat got a new id: remember it for the contact, the conversation and queued messages."""
        with self.db.transaction() as session:
            old, new = message.address, moved.new_address
            session.execute(
                update(Contact).where(Contact.telegram_chat_id == old).values(telegram_chat_id=new)
            )
            session.execute(
                update(Conversation)
                .where(Conversation.channel == message.channel, Conversation.address == old)
                .values(address=new)
            )
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.channel == message.channel, OutboxMessage.address == old)
                .values(address=new)
            )
        logger.info("%s chat moved; stored the new id", message.channel)

    def _unreachable(self, session: Session, message: Outgoing, reason: str) -> None:
        """Mark a contact who blocked the bot, so coordinators can see it and nobody counts on them."""
        column = Contact.telegram_chat_id if message.channel == "telegram" else Contact.whatsapp
        session.execute(
            update(Contact).where(column == message.address).values(unreachable_reason=reason[:200])
        )

    # Loops ------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch and send it; the number of messages handled."""
        groups = await asyncio.to_thread(self.claim)
        if groups:
            await asyncio.gather(*(self._send_group(g) for g in groups))
        return sum(len(g) for g in groups)

    async def drain(self) -> None:
        """Send until nothing is due now; for the console and tests."""
        while await self.run_once():
            pass

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Send for as long as the process runs; woken early when new messages are queued."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                logger.exception("dispatcher round failed; trying again")
                handled = 0
            if handled:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=idle_seconds)
