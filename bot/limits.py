"""Rate limits: per chat in this process, per channel shared by every process, the most urgent first."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from models.tables import SendBudget

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Messages a second per channel, and per chat where the provider limits that too."""

    per_channel: Mapping[str, float]
    per_chat: Mapping[str, float]
    chat_burst: float = 3.0


class RateLimiter:
    """At most `rate` a second, evenly spaced, with a burst of `burst` after a quiet spell.

    Each caller takes the next free slot, 1/rate after the previous one (the GCRA form of a token bucket).
    Slots follow each other whenever a caller wakes, so a timer waking a little late costs no throughput,
    and a fan-out starts at the limit, not at the limit plus a second's worth of burst.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.clock = clock
        self.next_slot = float("-inf")

    def reserve(self) -> float:
        """Take the next free slot; the seconds until it comes (0 when it is now)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        # Unused slots expire, except the last `burst - 1`.
        slot = max(self.next_slot, now - (self.burst - 1) / self.rate)
        self.next_slot = slot + 1 / self.rate
        return max(0.0, slot - now)

    async def acquire(self) -> None:
        """Wait until one more message may go out."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    async def reserve_async(self) -> float:
        """`reserve` in the shape a `PriorityGate` asks for."""
        return self.reserve()

    def idle(self, now: float) -> bool:
        """Whether it is back to a full burst, so a fresh limiter would behave the same."""
        return self.rate <= 0 or self.next_slot + (self.burst - 1) / self.rate <= now


class SharedRate:
    """One channel's GCRA slot kept in PostgreSQL, so all processes on the database share one limit.

    The limit belongs to the bot token or the Twilio sender, not to a process: two processes each keeping
    30 a second sent 62 in one second. One UPDATE … RETURNING takes the next slot by the database's
    clock (no skew between machines); the row lock makes processes take turns for a moment. If the
    database cannot be reached, this process paces itself alone until it can.
    """

    def __init__(self, engine: AsyncEngine, key: str, rate: float, burst: float = 1.0) -> None:
        self.engine = engine
        self.key = key
        self.interval = 1 / rate
        self.span = (max(1.0, burst) - 1) / rate
        self.fallback = RateLimiter(rate, burst)
        self._created = False

    async def reserve(self) -> float:
        """Take the next slot shared by every process; the seconds until it comes."""
        try:
            async with self.engine.begin() as connection:
                if not self._created:
                    await connection.execute(
                        insert(SendBudget)
                        .values(key=self.key, next_slot=0.0)
                        .on_conflict_do_nothing(index_elements=["key"])
                    )
                    self._created = True
                wait = await connection.scalar(
                    text(
                        "UPDATE send_budget SET next_slot = "
                        "GREATEST(next_slot, extract(epoch FROM clock_timestamp()) - :span) + :interval "
                        "WHERE key = :key "
                        "RETURNING next_slot - :interval - extract(epoch FROM clock_timestamp())"
                    ),
                    {"key": self.key, "span": self.span, "interval": self.interval},
                )
        except Exception as error:
            logger.warning(
                "shared rate limit unavailable (%s); pacing this process alone", type(error).__name__
            )
            return self.fallback.reserve()
        return max(0.0, float(wait or 0.0))


class PriorityGate:
    """Hands out one channel's slots at its rate, each to the most urgent message waiting at that moment.

    A slot is given out only when it comes, not when it is reserved, so a reply queued a moment ago goes
    ahead of hundreds of alerts already claimed: bulk gets whatever capacity replies leave.
    """

    def __init__(self, reserve: Callable[[], Awaitable[float]]) -> None:
        self._reserve = reserve
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None

    async def enter(self, priority: int) -> None:
        """Wait for a slot; lower numbers are served first, equal ones in arrival order."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._hand_out())
        await future

    def _drop_abandoned(self) -> None:
        while self._waiting and self._waiting[0][2].done():
            heapq.heappop(self._waiting)

    async def _hand_out(self) -> None:
        """Reserve a slot, wait for it, give it to whoever is most urgent then; until nobody waits."""
        while True:
            self._drop_abandoned()
            if not self._waiting:
                return
            delay = await self._reserve()
            if delay > 0:
                await asyncio.sleep(delay)
            self._drop_abandoned()
            if self._waiting:
                heapq.heappop(self._waiting)[2].set_result(None)

    @property
    def waiting(self) -> int:
        """Messages waiting for a slot."""
        return sum(1 for *_, future in self._waiting if not future.done())
