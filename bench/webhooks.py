"""Webhooks under a burst: 200 posts at once to `python -m bot serve`, half Telegram, half WhatsApp.

    python bench/webhooks.py [--posts 200] [--senders 50] [--postgres ["host=127.0.0.1 dbname=test ..."]]
                             [--only sqlite,postgres] [--default-limits] [--json FILE] [--logs DIR]

`serve` runs in its own process with Telegram by webhook (secret token) and WhatsApp through Twilio, both
sending to fake providers in another process (tests/fakes). Once /healthz answers, the posts are released
together: half the senders post Telegram updates with the secret header, half post WhatsApp forms signed
with X-Twilio-Signature over PUBLIC_URL + path, as Twilio signs them. Each sender's posts are the
answers of a report in everyday words (tests/chat.py EVERYDAY_REPORT), each posted when the one before
has its HTTP response; all senders at once. Measured: the time from each post to its HTTP response
(every one must be 200), p50, p95 and max; the time until every post has its answer at the fakes; and
per post, the time from the post to its answer reaching the fake. Send limits are lifted, so the
answers measure the bot, unless --default-limits (then 10 WhatsApp messages a second draw out the last
answers). One round on SQLite in a temporary directory; --postgres adds one on a fresh schema; --only
picks the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from chat import EVERYDAY_REPORT  # noqa: E402
from fakes.telegram_api import FakeTelegram  # noqa: E402
from fakes.twilio_api import SANDBOX_NUMBER, FakeTwilio, inbound_params, sign_twilio_request  # noqa: E402
from inbound import LOCAL_POSTGRES, drop_schema, postgres_schema  # noqa: E402
from processes import bot_process, wait_for  # noqa: E402
from servers import free_socket, url_of  # noqa: E402

from bot.web import TELEGRAM_SECRET_HEADER  # noqa: E402

SECRET = "rahasia-bench-webhooks"
FIRST_CHAT = 40_000_001
FIRST_NUMBER = 6281230000001
FIRST_UPDATE = 700_000
# Update ids of one Telegram sender: FIRST_UPDATE + sender * UPDATES_PER_SENDER + post.
UPDATES_PER_SENDER = 10_000
# How long the answers may take to reach the fakes before the missing ones are counted as lost; and
# how long without any new message at the fakes before waiting is given up earlier.
REPLIES_DEADLINE_SECONDS = 120.0
QUIET_SECONDS = 10.0
HTTP_TIMEOUT_SECONDS = 60.0
LIFTED_LIMITS = {
    "TELEGRAM_MESSAGES_PER_SECOND": "0",
    "TELEGRAM_MESSAGES_PER_CHAT_PER_SECOND": "0",
    "WHATSAPP_MESSAGES_PER_SECOND": "0",
}


def providers_process(urls: Any, orders: Any, results: Any) -> None:
    """Fake Telegram and Twilio; on request, when each expected answer reached them."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        urls.put((telegram.token, telegram.base_url, twilio.base_url, twilio.account_sid, twilio.auth_token))
        while (order := orders.get()) is not None:
            expected, deadline = order
            results.put(answers_arrived(telegram, twilio, expected, deadline))


def answers_arrived(
    telegram: FakeTelegram, twilio: FakeTwilio, expected: dict[str, list[str]], deadline: float
) -> dict[str, Any]:
    """Per address, when the message holding each expected fragment arrived, in order (None: never)."""
    arrived: dict[str, list[float | None]] = {address: [] for address in expected}
    seen = dict.fromkeys(expected, 0)
    heard, quiet_since = 0, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_SECONDS:
        with telegram._lock:
            sent = [(str(r["chat_id"]), r["text"], r["t"]) for r in telegram.sent]
        with twilio._lock:
            sent += [(r["to"], r["body"], r["t"]) for r in twilio.sent]
        if len(sent) > heard:
            heard, quiet_since = len(sent), time.monotonic()
        by_address: dict[str, list[tuple[str, float]]] = {}
        for address, text, t in sent:  # in the order each fake recorded them; an address is on one
            by_address.setdefault(address, []).append((text, t))
        for address, fragments in expected.items():
            mine = by_address.get(address, [])
            while len(arrived[address]) < len(fragments):
                fragment = fragments[len(arrived[address])]
                found = next((i for i in range(seen[address], len(mine)) if fragment in mine[i][0]), None)
                if found is None:
                    break
                arrived[address].append(mine[found][1])
                seen[address] = found + 1
        if all(len(arrived[a]) == len(f) for a, f in expected.items()):
            break
        time.sleep(0.01)
    for address, fragments in expected.items():
        arrived[address] += [None] * (len(fragments) - len(arrived[address]))
    return {"arrived": arrived, "telegram_sent": len(telegram.sent), "twilio_sent": len(twilio.sent)}


class Sender:
    """One person on one channel, with the posts they will make, prepared (and signed) beforehand."""

    def __init__(self, index: int, posts: int, public_url: str, auth_token: str, fake: FakeTelegram) -> None:
        self.on_telegram = index % 2 == 0
        said = [EVERYDAY_REPORT[k % len(EVERYDAY_REPORT)] for k in range(posts)]
        self.expected = [fragment for _text, fragment in said]
        self.requests: list[tuple[str, dict[str, Any]]] = []
        if self.on_telegram:
            chat = FIRST_CHAT + index
            self.address = str(chat)
            url = public_url + "/telegram/webhook"
            for k, (text, _fragment) in enumerate(said):
                update = fake.text_update(chat, text, update_id=FIRST_UPDATE + index * UPDATES_PER_SENDER + k)
                self.requests.append((url, {"json": update, "headers": {TELEGRAM_SECRET_HEADER: SECRET}}))
        else:
            number = f"+{FIRST_NUMBER + index}"
            self.address = f"whatsapp:{number}"
            url = public_url + "/whatsapp/webhook"
            for text, _fragment in said:
                form = inbound_params(number, text)
                signature = sign_twilio_request(auth_token, url, form)  # twilio's RequestValidator
                self.requests.append((url, {"data": form, "headers": {"X-Twilio-Signature": signature}}))


async def post_in_order(client: httpx.AsyncClient, sender: Sender, go: asyncio.Event) -> list[dict[str, Any]]:
    """A sender's posts one after the other, each as soon as the one before has its HTTP response."""
    await go.wait()
    timings = []
    for url, request in sender.requests:
        started = time.monotonic()
        try:
            status = (await client.post(url, **request)).status_code
        except httpx.HTTPError as error:
            status = type(error).__name__
        timings.append({"started": started, "seconds": time.monotonic() - started, "status": status})
    return timings


async def release(public_url: str, senders: list[Sender]) -> tuple[float, list[list[dict[str, Any]]]]:
    """Open a connection per sender, then let every sender go at the same moment.

    Each sender has a client of its own, as each of Telegram's and Twilio's posts comes on a connection of
    its own: one client's pool of 50 connections looks at every one of them for every request (httpcore),
    which made this process, not the server, the slowest part of a post.
    """
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=HTTP_TIMEOUT_SECONDS))
            for _ in senders
        ]
        # Connections are made before the clock starts: the posts measure the server, not TCP setup.
        # A GET on a webhook is refused (405) before any work, where /healthz would each take the database.
        await asyncio.gather(*(client.get(public_url + "/telegram/webhook") for client in clients))
        go = asyncio.Event()
        tasks = [
            asyncio.create_task(post_in_order(client, sender, go))
            for client, sender in zip(clients, senders, strict=True)
        ]
        await asyncio.sleep(0.1)  # every task is waiting on the event
        released = time.monotonic()
        go.set()
        return released, await asyncio.gather(*tasks)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] * 1000


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def problems_in(log: Path) -> list[str]:
    """Lines of the bot's log that are warnings, errors or tracebacks."""
    words = ("WARNING", "ERROR", "CRITICAL", "Traceback")
    return [line for line in log.read_text(errors="replace").splitlines() if any(w in line for w in words)]


def run(
    database: str, posts: int, senders: int, default_limits: bool, postgres: str, workdir: Path
) -> dict[str, Any]:
    """One round against a fresh database, fresh fakes and a fresh `serve`."""
    context = multiprocessing.get_context("spawn")
    urls, orders, results = context.Queue(), context.Queue(), context.Queue()
    child = context.Process(target=providers_process, args=(urls, orders, results), daemon=True)
    child.start()
    token, telegram_url, twilio_url, account_sid, auth_token = urls.get(timeout=30)
    schema = None
    if database == "postgres":
        schema, database_url = postgres_schema(postgres)
    else:
        database_url = f"sqlite:///{workdir / f'webhooks-{uuid.uuid4().hex[:6]}.db'}"
    sock = free_socket()
    public_url = url_of(sock)
    sock.close()
    settings = {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": telegram_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TWILIO_ACCOUNT_SID": account_sid,
        "TWILIO_AUTH_TOKEN": auth_token,
        "TWILIO_WHATSAPP_FROM": SANDBOX_NUMBER,
        "TWILIO_API_URL": twilio_url,
        "PUBLIC_URL": public_url,
        "PORT": public_url.rsplit(":", 1)[1],
        "MEDIA_DIR": str(workdir / "media"),
        "LOG_LEVEL": "WARNING",
        # Every sender here writes far faster than a person; the per-sender limits are not measured.
        "SENDER_MESSAGES_PER_MINUTE": "0",
        "SENDER_REPORTS_PER_HOUR": "0",
    }
    if not default_limits:
        settings |= LIFTED_LIMITS
    # Post i belongs to sender i % senders: the first ones get one post more when it does not divide.
    counts = [posts // senders + (i < posts % senders) for i in range(senders)]
    prepared = FakeTelegram()  # never started: only builds the updates
    people = [Sender(i, n, public_url, auth_token, prepared) for i, n in enumerate(counts) if n]
    log = workdir / f"serve-{database}.log"
    try:
        with bot_process("serve", log, **settings) as bot:
            wait_for("the web server", lambda: healthy(public_url), bot, log, timeout=60)
            released, timings = asyncio.run(release(public_url, people))
            answered = time.monotonic()
            expected = {person.address: person.expected for person in people}
            orders.put((expected, time.monotonic() + REPLIES_DEADLINE_SECONDS))
            found = results.get(timeout=REPLIES_DEADLINE_SECONDS + 30)
            still_running = bot.poll() is None
    finally:
        orders.put(None)
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
        if schema:
            drop_schema(postgres, schema)
    seconds = [t["seconds"] for mine in timings for t in mine]
    statuses = Counter(str(t["status"]) for mine in timings for t in mine)
    # The fakes' times and ours are both time.monotonic(): CLOCK_MONOTONIC, one clock for every process.
    to_answer: list[float] = []
    last: float | None = None
    for person, mine in zip(people, timings, strict=True):
        for timing, arrived in zip(mine, found["arrived"][person.address], strict=True):
            if arrived is not None:
                to_answer.append(arrived - timing["started"])
                last = arrived if last is None else max(last, arrived)
    problems = problems_in(log)
    return {
        "database": database,
        "limits": "default" if default_limits else "lifted",
        "posts": sum(counts),
        "senders": len(people),
        "status_200": statuses.get("200", 0),
        "statuses": dict(statuses),
        "response_p50_ms": percentile(seconds, 0.50),
        "response_p95_ms": percentile(seconds, 0.95),
        "response_max_ms": max(seconds) * 1000,
        "all_responses_s": answered - released,
        "answers_arrived": len(to_answer),
        "all_answers_s": (last - released) if last is not None and len(to_answer) == len(seconds) else None,
        "answer_p50_ms": percentile(to_answer, 0.50),
        "answer_p95_ms": percentile(to_answer, 0.95),
        "answer_max_ms": max(to_answer) * 1000 if to_answer else None,
        "telegram_sent": found["telegram_sent"],
        "twilio_sent": found["twilio_sent"],
        "bot_still_running": still_running,
        "log_problems": len(problems),
        "log_problem_lines": problems[:20],
    }


def shown(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--only", default="", help="rounds, e.g. sqlite,postgres")
    parser.add_argument("--default-limits", action="store_true", help="keep the bot's send limits")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get("TEST_POSTGRES", LOCAL_POSTGRES),
        default=None,
        help="a round on a fresh schema in this PostgreSQL database too",
    )
    parser.add_argument("--json", default="")
    parser.add_argument("--logs", default="", help="keep the bot's logs in this directory")
    args = parser.parse_args()
    rounds = args.only.split(",") if args.only else ["sqlite"] + ["postgres"] * bool(args.postgres)
    postgres = args.postgres or os.environ.get("TEST_POSTGRES", LOCAL_POSTGRES)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for database in rounds:
            row = run(database, args.posts, args.senders, args.default_limits, postgres, Path(workdir))
            rows.append(row)
            if args.logs:
                Path(args.logs).mkdir(parents=True, exist_ok=True)
                shutil.copy(Path(workdir) / f"serve-{database}.log", args.logs)
    print(
        f"{'database':9} {'200s':>9} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'all 200 s':>9}"
        f" {'answers':>9} {'all ans s':>9} {'ans p50':>8} {'ans p95':>8} {'ans max':>8}"
    )
    for r in rows:
        print(
            f"{r['database']:9} {r['status_200']:>4}/{r['posts']:<4} {shown(r['response_p50_ms']):>7}"
            f" {shown(r['response_p95_ms']):>7} {shown(r['response_max_ms']):>7}"
            f" {r['all_responses_s']:9.2f} {r['answers_arrived']:>4}/{r['posts']:<4}"
            f" {shown(r['all_answers_s'], 2):>9} {shown(r['answer_p50_ms']):>8}"
            f" {shown(r['answer_p95_ms']):>8} {shown(r['answer_max_ms']):>8}"
        )
    for r in rows:
        if r["status_200"] != r["posts"]:
            print(f"{r['database']}: not every post answered 200: {r['statuses']}")
        if r["log_problems"]:
            print(
                f"{r['database']}: {r['log_problems']} warning or error lines in the bot's log, first ones:"
            )
            for line in r["log_problem_lines"][:5]:
                print(f"    {line}")
    print(f"limits {rows[0]['limits'] if rows else '-'}; 'ans' = from a post to its answer at the fake")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
