"""Benchmark: how many messages a second the engine handles, end to end through the database.

    python bench/engine_turns.py [DATABASE_URL] [REPORTS]

Each report is twelve turns (the whole report flow). Prints turns a second and the median turn.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from chat import FULL_REPORT

from handlers.engine import Engine
from handlers.messages import Inbound
from models.db import Database


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    reports = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    engine = Engine(Database(url))
    engine.handle(Inbound("console", "warm-up", "warm-up", text="jember"))  # loads the region data once
    durations = []
    started = time.perf_counter()
    for n in range(reports):
        for i, text in enumerate(FULL_REPORT):
            t0 = time.perf_counter()
            engine.handle(Inbound("whatsapp", f"+62812{n:07d}", f"bench-{n}-{i}-{started}", text=text))
            durations.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    print(f"database: {url.split(':', 1)[0]}")
    print(f"reports: {reports}, turns: {len(durations)}, {len(durations) / elapsed:.0f} turns/s")
    print(
        f"median turn: {statistics.median(durations) * 1000:.1f} ms, "
        f"p95: {statistics.quantiles(durations, n=20)[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
