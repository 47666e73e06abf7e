"""Benchmark: how long a check-in round of N pioneers holds the database.

    python bench/checkin_round.py [DATABASE_URL] [--pioneers 2000]

A round is queued in one transaction (a question, a reminder timer and an outbox row per pioneer); on
SQLite no one else can write meanwhile, so this is the longest a citizen's message can wait behind a
round. Prints the seconds for the transaction. Uses SQLite in a temporary directory unless a
DATABASE_URL of an empty database or schema is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers.alerts.policy import Policy
from handlers.pioneers import checkins
from models.base import utcnow
from models.db import Database
from models.tables import Contact


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--pioneers", type=int, default=2000)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/round.db"
    db = Database(url)
    with db.transaction() as session:
        session.add_all(
            Contact(
                name=f"Pelopor {n}", role="pelopor", region_code="35.09.21", telegram_chat_id=str(10_000 + n)
            )
            for n in range(args.pioneers)
        )
    started = time.perf_counter()
    with db.transaction() as session:
        asked = checkins.ask_everyone(session, "", now=utcnow(), policy=Policy())
    print(f"{asked} pioneers asked in one transaction: {time.perf_counter() - started:.3f} s")
    db.dispose()


if __name__ == "__main__":
    main()
