"""The rate limits on their own: bursts per chat, and slots given to the most urgent message waiting."""

from __future__ import annotations

import asyncio

from bot.limits import PriorityGate, RateLimiter


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_reply_of_three_messages_to_one_chat_goes_at_once_and_the_fourth_waits() -> None:
    clock = Ticking()
    per_chat = RateLimiter(1.0, burst=3, clock=clock)
    assert [per_chat.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert per_chat.reserve() == 1.0
    clock.now += 10  # a quiet spell gives the burst back, no more
    assert [per_chat.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]


def test_the_channel_limit_spaces_messages_evenly_without_a_burst() -> None:
    clock = Ticking()
    channel = RateLimiter(30.0, clock=clock)
    waits = [channel.reserve() for _ in range(31)]
    assert waits[0] == 0.0
    assert abs(waits[30] - 1.0) < 1e-9, "31 messages take one second at 30 a second"


async def test_each_slot_goes_to_the_most_urgent_message_waiting_when_it_comes() -> None:
    slots: asyncio.Queue[None] = asyncio.Queue()

    async def next_slot() -> float:
        await slots.get()  # a slot comes when the test says so
        return 0.0

    gate = PriorityGate(next_slot)
    order: list[str] = []

    async def send(name: str, priority: int) -> None:
        await gate.enter(priority)
        order.append(name)

    tasks = [asyncio.create_task(send(f"alert {n}", 2)) for n in range(3)]
    await asyncio.sleep(0)
    slots.put_nowait(None)
    await asyncio.sleep(0.01)
    # A reply and an urgent alert arrive while alerts are waiting: they take the next slots.
    tasks += [asyncio.create_task(send("urgent", 1)), asyncio.create_task(send("reply", 0))]
    await asyncio.sleep(0)
    for _ in range(4):
        slots.put_nowait(None)
    await asyncio.gather(*tasks)
    assert order == ["alert 0", "reply", "urgent", "alert 1", "alert 2"]
    assert gate.waiting == 0


async def test_a_message_that_stops_waiting_gives_its_slot_to_the_next() -> None:
    slots: asyncio.Queue[None] = asyncio.Queue()

    async def next_slot() -> float:
        await slots.get()
        return 0.0

    gate = PriorityGate(next_slot)
    cancelled = asyncio.create_task(gate.enter(0))
    kept = asyncio.create_task(gate.enter(1))
    await asyncio.sleep(0)
    cancelled.cancel()
    slots.put_nowait(None)
    await asyncio.wait_for(kept, timeout=1)
    assert gate.waiting == 0
