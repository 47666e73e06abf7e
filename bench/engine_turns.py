"""Benchmark: how many messages a second the engine handles, end to end through the database.

    python bench/engine_turns.py [DATABASE_URL] [REPORTS] [--page N]

Each report is twelve turns (the whole report flow). Prints turns a second, the median turn and the CPU
time a turn. With `--page N`, N people report side by side and each step of theirs is one page, handled
as Telegram polling hands a `getUpdates` page over (`handle_many`, a commit every 50 ms at most, the
replies taken by a dispatcher as they would be): the CPU time a turn is then what the engine costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from chat import FULL_REPORT

from handlers import places
from handlers.engine import Engine
from handlers.messages import Inbound
from models.db import Database
from models.tables import OutboxMessage

# As bot/polling.py hands a page over.
COMMIT_EVERY_SECONDS = 0.05


class TakesEverything:
    """A dispatcher that is sending on every channel, as the polling process's is (see `Handoff`)."""

    lease = timedelta(seconds=120)

    def accepts(self, channel: str) -> bool:
        return True

    def sending_now(self, ids: list[int]) -> bool:
        return False

    def prepare(self, message: OutboxMessage) -> int:
        return message.id

    def take(self, prepared: list[object]) -> None:
        """Sending is not what is measured here."""


def one_at_a_time(engine: Engine, reports: int, started: float) -> list[float]:
    durations = []
    for n in range(reports):
        for i, text in enumerate(FULL_REPORT):
            t0 = time.perf_counter()
            engine.handle(Inbound("whatsapp", f"+62812{n:07d}", f"bench-{n}-{i}-{started}", text=text))
            durations.append(time.perf_counter() - t0)
    return durations


def in_pages(engine: Engine, reports: int, page: int, started: float) -> list[float]:
    """Each turn's share of its page's time."""
    engine.handoff = TakesEverything()
    durations = []
    for first in range(0, reports, page):
        people = range(first, min(first + page, reports))
        for i, text in enumerate(FULL_REPORT):
            inbounds = [
                Inbound("telegram", f"{n + 1:09d}", f"bench-{n}-{i}-{started}", text=text) for n in people
            ]
            t0 = time.perf_counter()
            handled = 0
            while handled < len(inbounds):
                handled += len(engine.handle_many(inbounds[handled:], within=COMMIT_EVERY_SECONDS).results)
            durations.extend([(time.perf_counter() - t0) / len(inbounds)] * len(inbounds))
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", nargs="?", default="", help="a fresh SQLite file if not given")
    parser.add_argument("reports", nargs="?", type=int, default=50)
    parser.add_argument("--page", type=int, default=1, help="people reporting side by side, a page each step")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = Engine(Database(url))
    places.warm()  # the region data, loaded once per process before any message
    started = time.perf_counter()
    cpu = time.process_time()
    if args.page > 1:
        durations = in_pages(engine, args.reports, args.page, started)
    else:
        durations = one_at_a_time(engine, args.reports, started)
    cpu = time.process_time() - cpu
    elapsed = time.perf_counter() - started
    print(f"database: {url.split(':', 1)[0]}, pages of {args.page}")
    print(f"reports: {args.reports}, turns: {len(durations)}, {len(durations) / elapsed:.0f} turns/s")
    print(
        f"median turn: {statistics.median(durations) * 1000:.2f} ms, "
        f"p95: {statistics.quantiles(durations, n=20)[-1] * 1000:.2f} ms, "
        f"CPU a turn: {cpu * 1000 / len(durations):.2f} ms"
    )


if __name__ == "__main__":
    main()
