"""Inbound, side by side: N citizens report at once, through ours and through the conventional bot.

    python bench/inbound.py [--citizens 40] [--flood] [--runs N]
                            [--only ours-sqlite,ours-sqlite-2p,ours-postgres,ours-postgres-2p,conventional]
                            [--postgres "host=127.0.0.1 dbname=test user=postgres"] [--json FILE]

Each contender runs as its own process (`python -m bot poll`, with ENGINE_PROCESS=1 for the "-2p" ones,
or bench/conventional.py) against a fake Bot API server in another process, where the citizens live:
each answers the moment the bot's next question arrives, in everyday words (tests/chat.py
EVERYDAY_REPORT, 12 answers). Measured: updates a second over the whole run, the time from a citizen's
message to the bot's answer reaching the fake, p50 and p95, and the bot process's CPU time an update
while the citizens write (steadier than updates a second when other work shares the machine), with the
fake's own, and the time the host took the machine's cores away (steal: on a shared host, runs with
much of it are not comparable). Our send limits are lifted (as the conventional bot has none) unless
--flood, where the fake enforces Telegram's flood control (429 above 30 a second overall, 3 a second
to one chat) and our limits are the defaults; it then also counts the conversations each bot
completed. With --runs N every contender runs N times, one after the other in each round, and each
figure is the median of its runs; the ratio is the median of the rounds' own ratios, since this shared
host's speed moves from one minute to the next.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from chat import EVERYDAY_REPORT  # noqa: E402
from fakes.telegram_api import FakeTelegram  # noqa: E402

# Ours as `poll` runs by default, and with ENGINE_PROCESS=1 (the engine in a process of its own).
ENGINE_PROCESS_SUFFIX = "-2p"
CONTENDERS = ("ours-sqlite", "ours-sqlite-2p", "ours-postgres", "ours-postgres-2p", "conventional")
FIRST_CITIZEN = 30_000_001
LOCAL_POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres"
# Both bots get this long after their first getUpdates before the citizens write: ours builds its
# place-name indexes beside start-up (about a second), which is not what is measured here.
WARM_UP_SECONDS = 3.0
# How long a run may take before the conversations not finished are counted as lost.
DEADLINE_SECONDS = 120.0


def cpu_seconds(pid: int) -> float | None:
    """CPU time a process and its children have used so far (Linux), steadier than wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").glob("*")
        for child in (task / "children").read_text().split()
    ]
    return own + sum(cpu_seconds(child) or 0.0 for child in children)


def steal_seconds() -> float | None:
    """CPU time the host gave to others while this machine wanted it, over all cores (Linux)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else None


def citizens_process(citizens: int, flood: bool, urls: Any, go: Any, writing: Any, results: Any) -> None:
    """The fake Bot API and the citizens: each answers as soon as the question it waits for arrives."""
    with FakeTelegram() as fake:
        if flood:
            fake.flood_control()
        urls.put((fake.token, fake.base_url))
        go.wait()
        while not fake.calls("getUpdates"):  # the bot is polling
            time.sleep(0.01)
        time.sleep(WARM_UP_SECONDS)
        chats = list(range(FIRST_CITIZEN, FIRST_CITIZEN + citizens))
        step = dict.fromkeys(chats, 0)
        seen = dict.fromkeys(chats, 0)
        pushed: dict[int, float] = {}
        latencies: list[float] = []
        writing.put(True)
        started = time.monotonic()
        for chat in chats:
            fake.push_update(fake.text_update(chat, EVERYDAY_REPORT[0][0]))
            pushed[chat] = time.monotonic()
        last_answer = started
        while time.monotonic() - started < DEADLINE_SECONDS:
            waiting = [c for c in chats if step[c] < len(EVERYDAY_REPORT)]
            if not waiting:
                break
            with fake._lock:
                sent = list(fake.sent)
            by_chat: dict[int, list[dict[str, Any]]] = {}
            for record in sent:
                by_chat.setdefault(int(record["chat_id"]), []).append(record)
            for chat in waiting:
                mine = by_chat.get(chat, [])
                expected = EVERYDAY_REPORT[step[chat]][1]
                arrived = next((r for r in mine[seen[chat] :] if expected in r["text"]), None)
                if arrived is None:
                    continue
                latencies.append(arrived["t"] - pushed[chat])
                last_answer = max(last_answer, arrived["t"])
                seen[chat] = len(mine)
                step[chat] += 1
                if step[chat] < len(EVERYDAY_REPORT):
                    fake.push_update(fake.text_update(chat, EVERYDAY_REPORT[step[chat]][0]))
                    pushed[chat] = time.monotonic()
            time.sleep(0.002)
        answered = sum(step.values())
        results.put(
            {
                "citizens": citizens,
                "completed": sum(s == len(EVERYDAY_REPORT) for s in step.values()),
                "answered": answered,
                "messages_sent": len(fake.sent),
                "seconds": last_answer - started,
                "updates_per_second": answered / max(last_answer - started, 1e-9),
                "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
                "p95_ms": statistics.quantiles(latencies, n=20)[18] * 1000 if len(latencies) > 20 else None,
                "refused_429": getattr(fake, "flood_refusals", None),
            }
        )


def postgres_schema(conninfo: str) -> tuple[str, str]:
    """A fresh schema in the given database and the URL that uses it."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    params = dict(part.split("=", 1) for part in conninfo.split())
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{params.get('dbname', 'test')}?options=-csearch_path%3D{schema}"
    )
    return schema, url


def drop_schema(conninfo: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(
    contender: str, citizens: int, flood: bool, postgres: str, workdir: Path, wrap: str = ""
) -> dict[str, Any]:
    """One contender against a fresh fake and fresh citizens."""
    context = multiprocessing.get_context("spawn")
    urls, go, writing, results = context.Queue(), context.Event(), context.Queue(), context.Queue()
    child = context.Process(
        target=citizens_process, args=(citizens, flood, urls, go, writing, results), daemon=True
    )
    child.start()
    token, base_url = urls.get(timeout=30)
    schema = None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env |= {"PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_URL": base_url}
    if contender == "conventional":
        conventional = [str(ROOT / "bench" / "conventional.py"), str(workdir / "conv.pickle")]
        command = [*wrap.split(), sys.executable, *conventional]
    else:
        if contender.startswith("ours-postgres"):
            schema, url = postgres_schema(postgres)
        else:
            url = f"sqlite:///{workdir / f'{contender}-{uuid.uuid4().hex[:6]}.db'}"
        env |= {"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "SENDER_MESSAGES_PER_MINUTE": "0"}
        env["ENGINE_PROCESS"] = "1" if contender.endswith(ENGINE_PROCESS_SUFFIX) else "0"
        if not flood:  # lifted, as the conventional bot has no limits of its own
            env |= {"TELEGRAM_MESSAGES_PER_SECOND": "0", "TELEGRAM_MESSAGES_PER_CHAT_PER_SECOND": "0"}
        command = [*wrap.split(), sys.executable, "-m", "bot", "poll"]
    log = open(workdir / f"{contender}.log", "wb")  # noqa: SIM115
    bot = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        go.set()
        writing.get(timeout=120)
        cpu_before, fake_before, steal_before = cpu_seconds(bot.pid), cpu_seconds(child.pid), steal_seconds()
        result = results.get(timeout=DEADLINE_SECONDS + 60)
        cpu_after, fake_after, steal_after = cpu_seconds(bot.pid), cpu_seconds(child.pid), steal_seconds()
        if steal_before is not None and steal_after is not None:
            result["steal_seconds"] = steal_after - steal_before
        if fake_before is not None and fake_after is not None and result["answered"]:
            result["fake_cpu_ms_per_update"] = (fake_after - fake_before) * 1000 / result["answered"]
        if cpu_before is not None and cpu_after is not None and result["answered"]:
            result["cpu_ms_per_update"] = (cpu_after - cpu_before) * 1000 / result["answered"]
    finally:
        if wrap:  # a profiler writes its output when interrupted, not when killed
            bot.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                bot.wait(timeout=30)
        bot.kill()
        bot.wait(timeout=10)
        log.close()
        child.terminate()
        if schema:
            drop_schema(postgres, schema)
    return {"contender": contender, "flood": flood, **result}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--citizens", type=int, default=40)
    parser.add_argument("--flood", action="store_true")
    parser.add_argument("--only", default=",".join(CONTENDERS))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_POSTGRES", "host=127.0.0.1 port=5432 dbname=test user=postgres"),
    )
    parser.add_argument("--runs", type=int, default=1, help="rounds of every contender; medians are shown")
    parser.add_argument("--json", default="")
    parser.add_argument("--wrap", default="", help="put before each bot, e.g. 'py-spy record -o F --'")
    args = parser.parse_args()
    rounds: list[list[dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.runs):
            contenders = args.only.split(",")
            rounds.append(
                [
                    run(c, args.citizens, args.flood, args.postgres, Path(workdir), args.wrap)
                    for c in contenders
                ]
            )
    for number, rows in enumerate(rounds, 1):
        if args.runs > 1:
            print(f"round {number}")
        print_table(rows)
    summary = [medians([rows[i] for rows in rounds], rounds) for i in range(len(rounds[0]))]
    if args.runs > 1:
        print(f"medians of {args.runs} rounds")
        print_table(summary)
    for r in summary:
        if r.get("ratio") is not None:
            low, high = r["ratio_range"]
            spread = f" (rounds {low:.2f} to {high:.2f})" if args.runs > 1 else ""
            print(f"{r['contender']}: {r['ratio']:.2f}x the conventional bot's updates a second{spread}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


FIGURES = (
    "updates_per_second",
    "p50_ms",
    "p95_ms",
    "cpu_ms_per_update",
    "fake_cpu_ms_per_update",
    "steal_seconds",
)


def medians(runs: list[dict[str, Any]], rounds: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """One contender's runs as one row: the median of each figure, the fewest conversations completed, and
    its ratio to the conventional bot in the same round (the median, and the lowest and highest)."""
    row = dict(runs[0])
    for name in FIGURES:
        values = [r[name] for r in runs if r.get(name) is not None]
        row[name] = statistics.median(values) if values else None
    row["completed"] = min(r["completed"] for r in runs)
    ratios = []
    for rows in rounds:
        conventional = next((r for r in rows if r["contender"] == "conventional"), None)
        mine = next(r for r in rows if r["contender"] == row["contender"])
        if conventional and conventional["updates_per_second"] and mine is not conventional:
            ratios.append(mine["updates_per_second"] / conventional["updates_per_second"])
    row["ratio"] = statistics.median(ratios) if ratios else None
    row["ratio_range"] = [min(ratios), max(ratios)] if ratios else None
    row["runs"] = runs if len(runs) > 1 else None
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    row = "{:16} {:>6} {:>8} {:>8} {:>8} {:>10} {:>11} {:>7}"
    heads = ("contender", "done", "upd/s", "p50 ms", "p95 ms", "cpu ms/upd", "fake ms/upd", "steal s")
    print(row.format(*heads))
    for r in rows:
        p50 = f"{r['p50_ms']:.0f}" if r["p50_ms"] is not None else "-"
        p95 = f"{r['p95_ms']:.0f}" if r["p95_ms"] is not None else "-"
        done = f"{r['completed']}/{r['citizens']}"
        cpu = f"{r['cpu_ms_per_update']:.1f}" if r.get("cpu_ms_per_update") else "-"
        fake = f"{r['fake_cpu_ms_per_update']:.1f}" if r.get("fake_cpu_ms_per_update") else "-"
        steal = f"{r['steal_seconds']:.1f}" if r.get("steal_seconds") is not None else "-"
        print(row.format(r["contender"], done, f"{r['updates_per_second']:.1f}", p50, p95, cpu, fake, steal))


if __name__ == "__main__":
    main()
