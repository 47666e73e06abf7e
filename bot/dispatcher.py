"""Sends what is in the outbox: in order per person, within rate limits, retrying what failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Integer, String, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from bot import delivery_reports
from bot.channels.base import Attachment, Failed, Moved, Outcome, Outgoing, Retry, Sender, Sent, close
from bot.limits import Limits, PriorityGate, RateLimiter, SharedRate
from bot.logs import Outage
from models.base import utcnow
from models.db import Database, postgresql_options
from models.tables import FAILED, PENDING, SENDING, SENT, Contact, Conversation, Document, OutboxMessage

logger = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 600.0
# A claimed message not finished within this time is taken again (its process died mid-send).
LEASE_SECONDS = 120
# Sends under way at once (SEND_CONCURRENCY). Eight keep 30 messages a second going with round trips up
# to about 250 ms.
CONCURRENCY = 8
# When woken by a new reply while a fan-out is under way, claim at least this many more.
WOKEN_BATCH = 20
# Outcomes are written together: after waiting this long for sends still in flight, at most this many.
RECORD_LINGER_SECONDS = 0.01
RECORD_BATCH = 200
# A person's last group sent is remembered this long after it finished, so a reply handed over meanwhile
# (decided while it was under way) still learns whether it went or is to be retried first.
TAIL_KEPT_SECONDS = 60.0
# Channels whose provider sends delivery reports, which can arrive before the send is recorded.
REPORTED = {"whatsapp", "sms"}
# Sent, by far the most common outcome, for many messages at once; built once (see handlers/engine.py).
MARK_SENT = (
    update(OutboxMessage)
    .where(OutboxMessage.id == bindparam("row_id"))
    .values(
        status=SENT,
        sent_at=bindparam("sent_at"),
        provider_id=bindparam("provider_id"),
        last_error=None,
        lease_until=None,
    )
)

# The same on PostgreSQL in one statement with three parameters, however many were sent: an executemany
# costs about twice the CPU time, and a statement with a parameter per value is parsed again each time.
_SENT = (
    func.unnest(bindparam("ids", type_=ARRAY(Integer)), bindparam("provider_ids", type_=ARRAY(String)))
    .table_valued("id", "provider_id")
    .render_derived(name="sent")
)
MARK_ALL_SENT = (
    update(OutboxMessage)
    .where(OutboxMessage.id == _SENT.c.id)
    .values(
        status=SENT,
        sent_at=bindparam("sent_at"),
        provider_id=_SENT.c.provider_id,
        last_error=None,
        lease_until=None,
    )
)


# What the dispatcher reads of a message it claims.
CLAIMED_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.channel,
    OutboxMessage.address,
    OutboxMessage.text,
    OutboxMessage.choices,
    OutboxMessage.attempts,
    OutboxMessage.purpose,
    OutboxMessage.priority,
    OutboxMessage.template_sid,
    OutboxMessage.template_variables,
    OutboxMessage.document_id,
)


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
        concurrency: int = CONCURRENCY,
        clock: Callable[[], datetime] = utcnow,
        unsendable: Mapping[str, str] | None = None,
    ) -> None:
        self.db = db
        self.senders = dict(senders)
        # Channels the bot knows but this process has no settings for: what is missing, to say why.
        self.unsendable = {ch: why for ch, why in (unsendable or {}).items() if ch not in self.senders}
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.clock = clock
        # One gate per rate-limited channel, set up when sending starts (see `_connected`).
        self.gates: dict[str, PriorityGate] = {}
        self.chat_limiters: dict[tuple[str, str], RateLimiter] = {}
        self.limits = limits
        self.slots = asyncio.Semaphore(concurrency)
        self.wake = asyncio.Event()
        # Outcomes waiting to be written, and the task writing them (see `_record`).
        self._unrecorded: list[tuple[Outgoing, Outcome, asyncio.Future[None]]] = []
        self._recording: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._async_engine: AsyncEngine | None = None
        # While `run` sends: replies handed over by the engine right after their commit (`send_now`).
        self.sending = False
        self._handed: set[asyncio.Task[bool]] = set()
        # Messages in a send under way here, and each person's last group under way (see `send_now`).
        self._under_way: set[int] = set()
        self._tails: dict[tuple[str, str], asyncio.Task[bool]] = {}
        self._finished: dict[tuple[str, str], float] = {}  # when each finished tail finished

    # Claiming ------------------------------------------------------------

    def claim(self, session: Session, limit: int | None = None) -> list[list[Outgoing]]:
        """Take due messages for the channels this process can send, most urgent first, grouped per person."""
        now = self.clock()
        due = (
            select(OutboxMessage)
            .where(OutboxMessage.channel.in_(self.senders))
            .where(
                ((OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= now))
                | ((OutboxMessage.status == SENDING) & (OutboxMessage.lease_until < now))
            )
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(limit or self.batch)
        )
        if self.db.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # Plain rows, not ORM objects: a fan-out claims thousands and needs none of the bookkeeping.
        # Not one this process is still sending: waiting at a rate limit longer than its lease, it
        # would be taken again and sent twice.
        rows = [
            row
            for row in session.execute(due.with_only_columns(*CLAIMED_COLUMNS))
            if row.id not in self._under_way
        ]
        if not rows:
            return []
        first_open = self._first_open(session, rows)
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
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
        attachments = _attachments(
            session, {r.document_id for g in groups.values() for r in g if r.document_id}
        )
        return [
            [
                outgoing(r, r.attempts + 1, attachments.get(r.document_id) if r.document_id else None)
                for r in group
            ]
            for group in groups.values()
        ]

    def _first_open(self, session: Session, rows: list[Any]) -> dict[tuple[str, str], int]:
        """The oldest message not yet sent or failed, for each person among these rows."""
        addresses = {r.address for r in rows}
        found = session.execute(
            select(OutboxMessage.channel, OutboxMessage.address, func.min(OutboxMessage.id))
            .where(OutboxMessage.address.in_(addresses), OutboxMessage.status.in_((PENDING, SENDING)))
            .group_by(OutboxMessage.channel, OutboxMessage.address)
        )
        return {(channel, address): first for channel, address, first in found}

    # Sending ------------------------------------------------------------

    def send_now(self, messages: list[Outgoing]) -> None:
        """Send messages the engine has just committed as being sent, without waiting for a claim.

        A person's messages still under way here go first: these follow them, or, if one of those is
        to be retried, go back to the outbox to wait behind it.
        """
        groups: dict[tuple[str, str], list[Outgoing]] = defaultdict(list)
        for message in messages:
            groups[(message.channel, message.address)].append(message)
        for key, group in groups.items():
            task = asyncio.create_task(self._send_after(self._tails.get(key), group))
            self._handed.add(task)
            task.add_done_callback(self._handed_done)
            self._follow(key, task)

    def sending_now(self, ids: list[int]) -> bool:
        """Whether all these messages are under way in this process (sent, perhaps, but not yet recorded)."""
        return all(id_ in self._under_way for id_ in ids)

    def under_way(self) -> frozenset[int]:
        """The messages under way in this process now, for an engine in another one (`sending_now`)."""
        return frozenset(self._under_way)

    def _follow(self, key: tuple[str, str], task: asyncio.Task[bool]) -> None:
        """Remember the person's last group under way, for messages handed over after it.

        Kept a while after it finished (`TAIL_KEPT_SECONDS`): the engine may have decided to hand a reply
        over while it was under way, and learns only now whether it went or is to be retried first.
        """
        self._tails[key] = task
        self._finished.pop(key, None)

        def finished(done: asyncio.Task[bool]) -> None:
            if self._tails.get(key) is done:
                self._finished[key] = time.monotonic()

        task.add_done_callback(finished)

    async def _send_after(self, before: asyncio.Task[bool] | None, group: list[Outgoing]) -> bool:
        if before is not None:
            if before.done():  # finished a moment ago: did it all go?
                went = not before.cancelled() and before.exception() is None and before.result()
            else:
                try:
                    went = await asyncio.shield(before)
                except Exception:
                    went = False
            if not went:
                await self._database(self._release, [m.id for m in group])
                self.wake.set()
                return False
        return await self._send_group(group)

    def _handed_done(self, task: asyncio.Task[bool]) -> None:
        self._handed.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Left as being sent: the lease runs out and a claim sends them.
            logger.error("sending handed replies failed: %s", type(task.exception()).__name__)

    async def _send_group(self, group: list[Outgoing]) -> bool:
        """Send one person's messages in order; after a failure the rest wait with it. False if retried."""
        self._under_way.update(m.id for m in group)
        try:
            for index, message in enumerate(group):
                outcome = await self._send_one(message)
                if isinstance(outcome, Moved):
                    await self._database(self._moved, message, outcome)
                    outcome = await self._send_one(replace(message, address=outcome.new_address))
                    if isinstance(outcome, Moved):
                        outcome = Failed("chat moved twice")
                await self._record(message, outcome)
                self._under_way.discard(message.id)
                if isinstance(outcome, Retry):
                    rest = [m.id for m in group[index + 1 :]]
                    if rest:
                        await self._database(self._release, rest)
                    return False
            return True
        finally:
            self._under_way.difference_update(m.id for m in group)

    async def _send_one(self, message: Outgoing) -> Outcome:
        """Wait for the chat's and the channel's limits, most urgent first, then send."""
        sender = self.senders[message.channel]
        chat_rate = self.limits.per_chat.get(message.channel)
        if chat_rate:
            key = (message.channel, message.address)
            if key not in self.chat_limiters:
                self.chat_limiters[key] = RateLimiter(chat_rate, self.limits.chat_burst)
            await self.chat_limiters[key].acquire()
        gate = self.gates.get(message.channel)
        if gate is not None:
            await gate.enter(message.priority)
        async with self.slots:
            self._in_flight += 1
            try:
                return await sender.send(message)
            except Exception as error:  # a sender bug must not lose the message
                logger.exception("%s sender raised", message.channel)
                return Retry(f"unexpected {type(error).__name__}")
            finally:
                self._in_flight -= 1

    # Recording ------------------------------------------------------------

    async def _record(self, message: Outgoing, outcome: Outcome) -> None:
        """Record an outcome in one transaction with the others that finish meanwhile (a group commit).

        Returns once it is committed, as a transaction of its own would; one transaction a message
        cost more than the sending itself when the channel is not rate limited.
        """
        committed = asyncio.get_running_loop().create_future()
        self._unrecorded.append((message, outcome, committed))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._record_waiting())
        await committed

    async def _record_waiting(self) -> None:
        """Write waiting outcomes in batches until none are left, then let the task end."""
        while self._unrecorded:
            if self._in_flight and len(self._unrecorded) < RECORD_BATCH:
                await asyncio.sleep(RECORD_LINGER_SECONDS)  # let the sends under way join this transaction
            batch, self._unrecorded = self._unrecorded[:RECORD_BATCH], self._unrecorded[RECORD_BATCH:]
            try:
                await self._record_batch([(message, outcome) for message, outcome, _ in batch])
            except Exception as error:
                for *_, committed in batch:
                    if not committed.done():
                        committed.set_exception(error)
            else:
                for *_, committed in batch:
                    if not committed.done():
                        committed.set_result(None)

    async def _record_batch(self, outcomes: list[tuple[Outgoing, Outcome]]) -> None:
        """One transaction for a batch; on PostgreSQL, sends that all went out on its asyncio connection.

        That is nearly every batch, and without the ORM's session around one statement it cost a third.
        """
        if self._async_engine is None or any(
            not isinstance(outcome, Sent) or message.channel in REPORTED for message, outcome in outcomes
        ):
            await self._database(self.record_many, outcomes)
            return
        sent = {
            "ids": [message.id for message, _ in outcomes],
            "provider_ids": [outcome.provider_id for _, outcome in outcomes],  # type: ignore[union-attr]
            "sent_at": self.clock(),
        }
        async with self._async_engine.begin() as connection:
            await connection.execute(MARK_ALL_SENT, sent)

    @staticmethod
    def _sent_rows(outcomes: list[tuple[Outgoing, Outcome]], now: datetime) -> list[dict[str, Any]]:
        return [
            {"row_id": m.id, "provider_id": o.provider_id, "sent_at": now}
            for m, o in outcomes
            if isinstance(o, Sent)
        ]

    def record_many(self, session: Session, outcomes: list[tuple[Outgoing, Outcome]]) -> None:
        """Store how several sends went, in one transaction."""
        now = self.clock()
        # Sent, by far the most common outcome, in one executemany; the rest one by one below.
        sent = self._sent_rows(outcomes, now)
        if sent:
            session.connection().execute(MARK_SENT, sent)
            # Twilio may have reported on a message before its id was stored here.
            reported = [o.provider_id for m, o in outcomes if isinstance(o, Sent) and m.channel in REPORTED]
            if reported:
                delivery_reports.apply_early(session, [p for p in reported if p])
        outcomes = [(m, o) for m, o in outcomes if not isinstance(o, Sent)]
        if not outcomes:
            return
        ids = [message.id for message, _ in outcomes]
        rows = {
            row.id: row for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
        }
        for message, outcome in outcomes:
            row = rows.get(message.id)
            if row is not None:
                self._apply(session, row, message, outcome, now)

    def _apply(
        self, session: Session, row: OutboxMessage, message: Outgoing, outcome: Outcome, now: datetime
    ) -> None:
        """One outcome onto its row: sent, due again after a backoff, or failed for good."""
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

    def _release(self, session: Session, ids: list[int]) -> None:
        """Give back messages that must wait behind a retried one; their attempt does not count."""
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(status=PENDING, lease_until=None, attempts=OutboxMessage.attempts - 1)
        )

    def _moved(self, session: Session, message: Outgoing, moved: Moved) -> None:
        """A chat got a new id: remember it for the contact, the conversation and queued messages."""
        old, new = message.address, moved.new_address
        session.execute(update(Contact).where(Contact.telegram_chat_id == old).values(telegram_chat_id=new))
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
        column = Contact.address_on(message.channel)
        if column is None:
            return
        session.execute(
            update(Contact).where(column == message.address).values(unreachable_reason=reason[:200])
        )

    async def _database(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(session, *args)` in one transaction without stalling the sends.

        On PostgreSQL it runs on an asyncio connection while sending (see `_connected`); otherwise in a
        worker thread, as SQLite may wait there for the write lock another turn holds.
        """
        if self._async_engine is not None:
            async with AsyncSession(self._async_engine, expire_on_commit=False) as session, session.begin():
                return await session.run_sync(work, *args)

        def in_thread() -> T:
            with self.db.transaction() as session:
                return work(session, *args)

        return await asyncio.to_thread(in_thread)

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[None]:
        """For as long as this dispatcher sends: its channel gates, and on PostgreSQL asyncio connections.

        On PostgreSQL each channel's limit is kept in the database and shared by every process
        (`SharedRate`); on SQLite, where one process is the rule, it is kept in memory.
        """
        if self.gates or (self._async_engine is not None):
            yield
            return
        if self.db.dialect == "postgresql":
            self._async_engine = create_async_engine(
                self.db.url,
                pool_size=4,
                max_overflow=4,
                hide_parameters=True,
                connect_args=postgresql_options(self.db.url, self.db.statement_timeout),
            )
        for channel in self.senders:
            rate = self.limits.per_channel.get(channel, 0)
            if rate <= 0:
                continue
            if self._async_engine is not None:
                self.gates[channel] = PriorityGate(SharedRate(self._async_engine, channel, rate).reserve)
            else:
                self.gates[channel] = PriorityGate(RateLimiter(rate).reserve_async)
        try:
            yield
        finally:
            self.gates = {}
            for sender in self.senders.values():
                await close(sender)
            if self._async_engine is not None:
                engine, self._async_engine = self._async_engine, None
                await engine.dispose()

    # Channels without settings ------------------------------------------------------------

    def settle_unsendable(self, session: Session) -> int:
        """Messages on a channel this process has no settings for: to the contact's Telegram, else failed.

        Left alone they would wait for good while everyone believes them sent. Moving a message to
        WhatsApp needs the 24-hour window and template rules of `handlers.alerts.delivery`, so only a
        move to Telegram is made here; new alerts choose a configured channel when they are queued.
        """
        if not self.unsendable:
            return 0
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.channel.in_(self.unsendable), OutboxMessage.status == PENDING)
            .order_by(OutboxMessage.id)
            .limit(self.batch)
        ).all()
        for row in rows:
            contact = session.get(Contact, row.contact_id) if row.contact_id else None
            if (
                contact is not None
                and "telegram" in self.senders
                and contact.telegram_chat_id
                and not contact.unreachable_reason
            ):
                logger.info(
                    "%s message %s moved to telegram: %s", row.channel, row.id, self.unsendable[row.channel]
                )
                row.channel, row.address, row.template_sid = "telegram", contact.telegram_chat_id, None
                continue
            row.status, row.last_error = FAILED, self.unsendable[row.channel][:300]
            logger.error("%s message %s failed: %s", row.channel, row.id, row.last_error)
        return len(rows)

    # Loops ------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim and send until nothing more is due now; the number of messages handled.

        The next batch is claimed while the last half of the current one is still being sent, so a large
        fan-out never waits for the database between batches; and at once when the engine queues a
        reply, so the reply reaches its gate while the fan-out's alerts are still waiting there.
        """
        handled = 0
        sending: set[asyncio.Task[None]] = set()
        low = 0
        progress = asyncio.Event()
        failures: list[BaseException] = []

        def finished(task: asyncio.Task[None]) -> None:
            sending.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]
            if len(sending) <= low or failures:
                progress.set()

        try:
            while await self._database(self.settle_unsendable) >= self.batch:
                pass
            while True:
                self.wake.clear()
                room = max(self.batch - len(sending), WOKEN_BATCH)
                groups = await self._database(self.claim, room)
                handled += sum(len(g) for g in groups)
                for group in groups:
                    # Under way from the claim, not only once its task starts, until the task ends even if
                    # cancelled before it started (then `_send_group` never runs to forget them).
                    ids = [m.id for m in group]
                    self._under_way.update(ids)
                    task = asyncio.create_task(self._send_group(group))
                    task.add_done_callback(lambda _done, ids=ids: self._under_way.difference_update(ids))
                    self._follow((group[0].channel, group[0].address), task)
                    sending.add(task)
                    task.add_done_callback(finished)
                if not sending:
                    break
                # Claim more when half is sent, or at once when woken; with nothing more due, when done.
                low = self.batch // 2 if groups else 0
                while len(sending) > low and not self.wake.is_set() and not failures:
                    progress.clear()
                    waiters = {
                        asyncio.ensure_future(progress.wait()),
                        asyncio.ensure_future(self.wake.wait()),
                    }
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waiters:
                        waiter.cancel()
                if failures:
                    raise failures[0]  # a failure here is a bug in recording: let `run` log it
        finally:
            for task in list(sending):
                task.cancel()
        self._forget_idle_chats()
        return handled

    def _forget_idle_chats(self) -> None:
        """Drop per-chat limiters back to a full burst and tails finished long ago, so memory stays flat."""
        now = time.monotonic()
        for key in [key for key, limiter in self.chat_limiters.items() if limiter.idle(now)]:
            del self.chat_limiters[key]
        for key in [key for key, at in self._finished.items() if now - at > TAIL_KEPT_SECONDS]:
            del self._finished[key]
            del self._tails[key]

    async def drain(self) -> None:
        """Send until nothing is due now; for the console and tests."""
        async with self._connected():
            while await self.run_once():
                pass

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Send for as long as the process runs; woken early when new messages are queued."""
        outage = Outage(logger, "dispatcher round")
        async with self._connected():
            self.sending = True
            try:
                await self._run(stop, idle_seconds, outage)
            finally:
                self.sending = False
                if self._handed:  # replies handed over just before the stop: let them go out
                    await asyncio.wait(set(self._handed), timeout=10)

    async def _run(self, stop: asyncio.Event, idle_seconds: float, outage: Outage) -> None:
        """Claim and send rounds until stopped."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
                outage.succeeded()
            except Exception as error:
                outage.failed(error)
                handled = 0
            if handled:
                continue
            # Not cleared here: a wake that came after the last claim must not be lost.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=idle_seconds)


def outgoing(row: Any, attempts: int, attachment: Attachment | None = None) -> Outgoing:
    """A claimed row, or a message the engine hands over, as the senders take it."""
    return Outgoing(
        id=row.id,
        channel=row.channel,
        address=row.address,
        text=row.text,
        choices=tuple((k, label) for k, label in row.choices),
        attempts=attempts,
        purpose=row.purpose,
        priority=row.priority,
        template_sid=row.template_sid,
        template_variables=row.template_variables,
        attachment=attachment,
    )


def _attachments(session: Session, ids: set[int]) -> dict[int, Attachment]:
    """The files claimed messages carry, in one query."""
    if not ids:
        return {}
    return {
        d.id: Attachment(d.path, d.filename, d.content_type, d.token, d.kind, d.telegram_file_id)
        for d in session.scalars(select(Document).where(Document.id.in_(ids)))
    }
