"""Benchmark: does one alert reach 1,000 contacts at the rate Telegram allows, and as fast as a bare loop?

    python bench/fanout.py [DATABASE_URL] [--quick] [--only a|b|c] [--repeat N] [--sweep] [--latency S]

Runs the real Dispatcher and TelegramSender (python-telegram-bot over HTTP) against FakeTelegram on
127.0.0.1 in a child process (as Telegram is another machine, the fake must not share the bot's process
and GIL), with SQLite in a temporary directory unless a DATABASE_URL is given (it must point at an
empty database or schema).

a. The configured limits (30 messages/s overall, 1/s per chat): the achieved rate, from the times the
   sends went out, as a share of the limit; target at least 0.95. Also the most sends in any one
   second, which must stay within 1.05 of the limit (one message of timer jitter at 30/s).
b. The channel limit lifted (rate 0, as with a self-hosted Bot API server): the dispatcher's messages/s
   against a sequential `await bot.send_message(...)` loop over the same chats ("the bare loop"); target
   at least 0.9. A bare loop with asyncio.gather in chunks of the dispatcher's concurrency is printed too,
   `--sweep` compares both at several concurrencies, and `--latency` makes the fake answer slowly, like a
   real network, which is what the dispatcher's concurrency is for.
c. The configured limits, with citizens writing while the alert goes out: 20 citizens, each writing
   every 3 seconds through the real engine; the time from a citizen's message to Telegram accepting the
   answer, p50 and p95. Before replies went first, an answer waited for the whole fan-out queued ahead
   of it (30.7 s for a reporter's code behind 900 alerts).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from fakes.telegram_api import FakeTelegram
from sqlalchemy import func, select
from telegram import Bot

from bot.app import limits
from bot.channels.base import Outcome, Outgoing, Sent
from bot.channels.telegram import TelegramSender, keyboard, make_bot
from bot.dispatcher import CONCURRENCY, Dispatcher
from bot.limits import Limits
from config.settings import Settings
from handlers.alerts.delivery import send_to_contact
from handlers.alerts.policy import Policy
from handlers.engine import Engine
from handlers.messages import Inbound
from models.base import utcnow
from models.db import Database
from models.tables import SENT, Contact, Incident, OutboxMessage

logger = logging.getLogger(__name__)

FIRST_CHAT_ID = 10_000_001
FIRST_CITIZEN = 20_000_001
RATE_TARGET = 0.95
PEAK_TARGET = 1.05
BARE_LOOP_TARGET = 0.9
ACK_CODE = "LPR-BENCH"
ACK_CHOICES = ((f"ack:{ACK_CODE}", "Saya tangani"),)


def run_fake(urls: Any, stop: Any, latency: float) -> None:
    """The child process: FakeTelegram until told to stop; it answers slowly when given a latency."""
    logging.basicConfig(level=logging.WARNING)
    with FakeTelegram() as fake:
        if latency:
            # A "timeout" fault answers after the delay, well within PTB's timeout: a slow network.
            fake.fail_all_next("timeout", times=10**9, delay=latency)
        urls.put((fake.token, fake.base_url))
        stop.wait()


class StampingSender(TelegramSender):
    """The real sender, noting when each successful send went out, for measuring the rate."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(bot)
        self.times: list[float] = []

    async def send(self, message: Outgoing) -> Outcome:
        started = time.monotonic()  # when the request leaves, which is what Telegram's limit counts
        outcome = await super().send(message)
        if isinstance(outcome, Sent):
            self.times.append(started)
        return outcome


class AnswerTimingSender(TelegramSender):
    """The real sender, noting when Telegram accepted each message, per chat, for reply latency."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(bot)
        self.accepted: dict[str, list[float]] = {}

    async def send(self, message: Outgoing) -> Outcome:
        outcome = await super().send(message)
        if isinstance(outcome, Sent):
            self.accepted.setdefault(message.address, []).append(time.monotonic())
        return outcome


def add_contacts(db: Database, count: int) -> list[int]:
    """Pelopor contacts in one kecamatan, each with a Telegram chat; their chat ids."""
    with db.transaction() as session:
        if session.scalar(select(func.count()).select_from(Contact)):
            raise SystemExit("the database already holds contacts; give an empty database or schema")
        chat_ids = list(range(FIRST_CHAT_ID, FIRST_CHAT_ID + count))
        session.add_all(
            Contact(name=f"Pelopor {n}", role="pelopor", region_code="35.09.21", telegram_chat_id=str(n))
            for n in chat_ids
        )
    return chat_ids


def queue_alert(db: Database, body: str) -> int:
    """One alert to every contact, queued in one transaction the way routing does it; how many."""
    now = utcnow()
    with db.transaction() as session:
        incident = Incident(district_code="35.09.21", category="tawuran", level="siaga", reach=3)
        session.add(incident)
        session.flush()
        contacts = session.scalars(select(Contact).order_by(Contact.id)).all()
        for contact in contacts:
            send_to_contact(
                session,
                contact,
                body,
                now=now,
                policy=Policy(),
                incident=incident,
                purpose="alert",
                ack_code=ACK_CODE,
            )
        return len(contacts)


def unsent(db: Database) -> int:
    """Messages not (yet) sent; a benchmark that left some behind measured nothing."""
    with db.transaction() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.status != SENT)) or 0


def peak_per_second(times: list[float]) -> int:
    """The most sends in any one-second window, to see whether a burst broke the limit."""
    peak, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


async def timed(what: Callable[[], Awaitable[Any]]) -> float:
    """Seconds `what` took, wall clock, as a person waiting for the fan-out would count them."""
    started = time.perf_counter()
    await what()
    return time.perf_counter() - started


async def run_dispatcher(
    db: Database, bot: Bot, rate_limits: Limits, concurrency: int = CONCURRENCY, sender: Any = None
) -> float:
    """Drain the outbox through a fresh dispatcher; seconds taken, every message recorded."""
    sender = sender or TelegramSender(bot)
    dispatcher = Dispatcher(db, {"telegram": sender}, rate_limits, concurrency=concurrency)
    seconds = await timed(dispatcher.drain)
    left = unsent(db)
    if left:
        raise SystemExit(f"{left} messages were not sent; see the log above")
    return seconds


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


# Every figure judged, by name, for --json.
FIGURES: dict[str, float] = {}


def judged(name: str, value: float, target: str, passed: bool) -> bool:
    """Print one figure against its target; whether it met it."""
    FIGURES[name] = value
    print(f"   {name}: {value:.3f} (target {target}) {verdict(passed)}")
    return passed


async def configured_rate(db: Database, bot: Bot) -> bool:
    """Run a: the configured limits; the achieved rate must be close to the limit, and not above it."""
    configured = limits(Settings())
    rate = configured.per_channel["telegram"]
    count = queue_alert(db, "PERINGATAN (a): bentrok antarkelompok di Sumbersari")
    sender = StampingSender(bot)
    await run_dispatcher(db, bot, configured, sender=sender)
    times = sender.times
    span = times[-1] - times[0]
    achieved, peak = len(times) / span, peak_per_second(times)
    share, peak_share = achieved / rate, peak / rate
    print(f"a. configured limits: {rate:g}/s overall, {configured.per_chat['telegram']:g}/s per chat")
    print(f"   {len(times)} messages to {count} contacts in {span:.2f} s (first to last send)")
    print(f"   achieved: {achieved:.2f} msg/s; most in any 1 s window: {peak}")
    fast_enough = judged("achieved / limit", share, f">= {RATE_TARGET}", share >= RATE_TARGET)
    # Sends are evenly spaced; a timer waking a few ms late can put one more inside some second.
    within = judged("most in 1 s / limit", peak_share, f"<= {PEAK_TARGET}", peak_share <= PEAK_TARGET)
    return fast_enough and within


async def unlimited(db: Database, bot: Bot, chat_ids: list[int], repeat: int) -> bool:
    """Run b: no channel limit; the dispatcher against bare send_message loops over the same chats."""
    markup = keyboard(ACK_CHOICES)  # the same message the dispatcher sends: text and button
    body = "PERINGATAN (b): bentrok antarkelompok di Sumbersari"

    async def sequential() -> None:
        for chat_id in chat_ids:
            await bot.send_message(chat_id, body, reply_markup=markup)

    async def gathered() -> None:
        for start in range(0, len(chat_ids), CONCURRENCY):
            chunk = chat_ids[start : start + CONCURRENCY]
            await asyncio.gather(*(bot.send_message(c, body, reply_markup=markup) for c in chunk))

    lifted = replace_channel_rate(limits(Settings()), 0)
    n = len(chat_ids)
    rates: dict[str, list[float]] = {"sequential": [], "gathered": [], "dispatcher": []}
    for _ in range(repeat):  # interleaved, so a slow patch of the machine hits all three alike
        rates["sequential"].append(n / await timed(sequential))
        rates["gathered"].append(n / await timed(gathered))
        queue_alert(db, body)
        rates["dispatcher"].append(n / await run_dispatcher(db, bot, lifted))
    bare, bare_gathered, dispatched = (statistics.median(r) for r in rates.values())
    per_chat = lifted.per_chat["telegram"]
    print(f"b. channel limit lifted (per chat still {per_chat:g}/s), {n} chats, median of {repeat} runs")
    rows = [
        ("bare loop, sequential", bare, "sequential"),
        (f"bare loop, gather in chunks of {CONCURRENCY}", bare_gathered, "gathered"),
        (f"dispatcher, concurrency {CONCURRENCY}", dispatched, "dispatcher"),
    ]
    for name, rate, key in rows:
        print(f"   {name + ':':36s} {rate:7.1f} msg/s  {spread(rates[key])}")
    ratio = dispatched / bare
    print(f"   dispatcher / gathered bare loop: {dispatched / bare_gathered:.3f} (for information)")
    return judged(
        "dispatcher / sequential bare loop", ratio, f">= {BARE_LOOP_TARGET}", ratio >= BARE_LOOP_TARGET
    )


async def citizens_during_fanout(db: Database, bot: Bot, citizens: int = 20, every: float = 3.0) -> bool:
    """Run c: citizens write while the alert goes out; how long each waits for the answer."""
    configured = limits(Settings())
    count = queue_alert(db, "PERINGATAN (c): bentrok antarkelompok di Sumbersari")
    sender = AnswerTimingSender(bot)
    dispatcher = Dispatcher(db, {"telegram": sender}, configured)
    loop = asyncio.get_running_loop()
    engine = Engine(db, notify=lambda: loop.call_soon_threadsafe(dispatcher.wake.set))
    stop = asyncio.Event()
    sending = asyncio.create_task(dispatcher.run(stop))
    chats = [str(FIRST_CITIZEN + n) for n in range(citizens)]
    written: list[tuple[str, float]] = []
    started = time.monotonic()
    # Citizens keep writing, staggered, until the fan-out is nearly over.
    fanout_seconds = count / configured.per_channel["telegram"]
    rounds = max(1, int((fanout_seconds - every) // every))
    for round_ in range(rounds):
        for n, chat in enumerate(chats):
            await asyncio.sleep(every / citizens)
            written.append((chat, time.monotonic()))
            inbound = Inbound("telegram", chat, f"bench-{round_}-{n}", text="/bantuan")
            await asyncio.to_thread(engine.handle, inbound)
    while unsent(db):
        await asyncio.sleep(0.2)
    stop.set()
    dispatcher.wake.set()
    await sending
    waits = []
    answered = {chat: list(times) for chat, times in sender.accepted.items() if chat in chats}
    for chat, at in written:
        waits.append(answered[chat].pop(0) - at)
    waits.sort()
    p50, p95 = statistics.median(waits), waits[int(0.95 * (len(waits) - 1))]
    print(f"c. configured limits, {count} alerts going out, {citizens} citizens writing every {every:g} s")
    print(f"   {len(waits)} answers over {time.monotonic() - started:.1f} s")
    print(f"   time from a citizen's message to Telegram accepting the answer: p50 {p50 * 1000:.0f} ms,")
    print(f"   p95 {p95 * 1000:.0f} ms, slowest {waits[-1] * 1000:.0f} ms")
    FIGURES["citizens' answer p50 (ms)"] = p50 * 1000
    return judged("p95 answer (s)", p95, "<= 1.0", p95 <= 1.0)


def spread(rates: list[float]) -> str:
    return f"(runs: {', '.join(f'{r:.0f}' for r in rates)})"


async def sweep(db: Database, bot: Bot, chat_ids: list[int]) -> None:
    """The dispatcher and a bare loop with as many sends under way, at several concurrencies."""
    body = "PERINGATAN (sweep): bentrok antarkelompok di Sumbersari"
    markup = keyboard(ACK_CHOICES)
    lifted = replace_channel_rate(limits(Settings()), 0)
    print("   concurrency   bare loop   dispatcher   (msg/s, channel limit lifted)")
    for concurrency in (1, 2, 4, 16, CONCURRENCY):
        slots = asyncio.Semaphore(concurrency)

        async def one(chat_id: int, slots: asyncio.Semaphore = slots) -> None:
            async with slots:
                await bot.send_message(chat_id, body, reply_markup=markup)

        async def bare() -> None:
            await asyncio.gather(*(one(c) for c in chat_ids))

        bare_rate = len(chat_ids) / await timed(bare)
        queue_alert(db, body)
        dispatched = len(chat_ids) / await run_dispatcher(db, bot, lifted, concurrency=concurrency)
        print(f"   {concurrency:11d}   {bare_rate:9.1f}   {dispatched:10.1f}")


def replace_channel_rate(configured: Limits, rate: float) -> Limits:
    return Limits({**configured.per_channel, "telegram": rate}, configured.per_chat, configured.chat_burst)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("database_url", nargs="?", help="an empty database; SQLite in a temp dir if left out")
    parser.add_argument("--quick", action="store_true", help="300 contacts instead of 1,000")
    parser.add_argument("--only", choices=("a", "b", "c"), help="run one measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs of b, whose median is taken (3)")
    parser.add_argument("--sweep", action="store_true", help="b at concurrency 1, 2, 4, 16, default")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake takes to answer, for b")
    parser.add_argument("--json", default="", help="write the figures judged to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-fanout-')}/bench.db"
    db = Database(url)
    passed = True
    spawn = multiprocessing.get_context("spawn")
    urls, stop = spawn.Queue(), spawn.Event()
    child = spawn.Process(target=run_fake, args=(urls, stop, args.latency), daemon=True)
    child.start()
    token, base_url = urls.get(timeout=60)
    try:
        bot = make_bot(token, base_url)
        await bot.initialize()
        try:
            chat_ids = add_contacts(db, 300 if args.quick else 1000)
            print(f"database: {db.dialect}; contacts: {len(chat_ids)}; fake Telegram in a child process")
            if args.latency:
                print(f"   (the fake answers every sendMessage after {args.latency * 1000:.0f} ms)")
            if importlib.util.find_spec("sniffio") is None:
                print("note: sniffio is not installed, so httpcore retries a failing import on every request")
            for chat_id in chat_ids[:20]:  # warm up connections and code paths
                await bot.send_message(chat_id, "warm-up", reply_markup=keyboard(ACK_CHOICES))
            if args.only in (None, "a"):
                passed &= await configured_rate(db, bot)
            if args.only in (None, "c"):
                passed &= await citizens_during_fanout(db, bot)
            if args.only in (None, "b"):
                passed &= await unlimited(db, bot, chat_ids, args.repeat)
                if args.sweep:
                    await sweep(db, bot, chat_ids)
        finally:
            await bot.shutdown()
            db.dispose()
    finally:
        stop.set()
        child.join(timeout=10)
    print(verdict(passed))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"database": db.dialect, **FIGURES, "passed": passed}, indent=2)
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
