"""SQLite's write lock: how long a short transaction waits beside a long one that keeps coming back.

    python bench/write_lock.py [--hold-ms 30] [--gap-ms 2] [--tries 100]

One thread writes in transactions of `--hold-ms`, `--gap-ms` apart, as the engine does page after page
(or a check-in round, for seconds); another writes a row every 10 ms, as the dispatcher records what it
sent. Measured: the short writer's wait for the lock, p50 / p95 / longest, first with SQLite's own busy
handler (as `BEGIN IMMEDIATE` with a busy timeout waits), then as `models.db` asks for it.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

from sqlalchemy import text

from models.db import Database

Writer = Callable[[], AbstractContextManager[Callable[[str], Any]]]


def busy_handler_writer(path: Path) -> Writer:
    """A connection that waits as SQLite's busy handler does: ever longer sleeps, up to 100 ms."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)

    @contextmanager
    def transaction() -> Any:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection.execute
        finally:
            connection.execute("COMMIT")

    return transaction


def our_writer(path: Path) -> Writer:
    """A connection from `models.db`, as every process of the bot writes."""
    db = Database(f"sqlite:///{path}", migrate=False)

    @contextmanager
    def transaction() -> Any:
        with db.transaction() as session:
            yield lambda sql: session.execute(text(sql))

    return transaction


def measure(make: Callable[[Path], Writer], hold: float, gap: float, tries: int) -> list[float]:
    """The short writer's waits, in seconds."""
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "lock.db"
        with sqlite3.connect(path) as setup:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.execute("CREATE TABLE t (x INTEGER)")
        long_writer, short_writer = make(path), make(path)
        stop = threading.Event()

        def hold_again_and_again() -> None:
            while not stop.is_set():
                with long_writer() as execute:
                    execute("INSERT INTO t VALUES (1)")
                    until = time.monotonic() + hold
                    while time.monotonic() < until:  # working, as a page of turns does
                        pass
                time.sleep(gap)

        thread = threading.Thread(target=hold_again_and_again)
        thread.start()
        waits = []
        try:
            for _ in range(tries):
                asked = time.monotonic()
                with short_writer() as execute:
                    execute("INSERT INTO t VALUES (2)")  # the lock is taken by the first statement
                    waits.append(time.monotonic() - asked)
                time.sleep(0.01)
        finally:
            stop.set()
            thread.join()
        return waits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hold-ms", type=float, default=30.0)
    parser.add_argument("--gap-ms", type=float, default=2.0)
    parser.add_argument("--tries", type=int, default=100)
    args = parser.parse_args()
    print(f"{'waiting':28} {'p50 ms':>8} {'p95 ms':>8} {'longest ms':>11}")
    for name, make in (("SQLite's busy handler", busy_handler_writer), ("models.db", our_writer)):
        waits = sorted(w * 1000 for w in measure(make, args.hold_ms / 1000, args.gap_ms / 1000, args.tries))
        p95 = statistics.quantiles(waits, n=20)[18]
        print(f"{name:28} {statistics.median(waits):8.1f} {p95:8.1f} {waits[-1]:11.1f}")


if __name__ == "__main__":
    main()
