"""Every benchmark of issue #12 in one run: a table against the targets, and all figures as JSON.

    python -m bench [--quick] [--only inbound,inbound-200,flood,webhooks,first-alert,fanout,memory,imports]
                    [--postgres "host=127.0.0.1 dbname=test user=postgres"] [--json bench-results.json]

Each step is one of the scripts beside this file, run as its own process with --json (see each script's
docstring for what it measures and how). With --quick every step runs at a tiny size on SQLite only
(the conventional bot included), to show the benchmarks work, not to measure: the test suite runs it so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
LOCAL_POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres"
STEPS = ("inbound", "inbound-200", "flood", "webhooks", "first-alert", "fanout", "memory", "imports")


def arguments(step: str, quick: bool, postgres: str) -> list[str]:
    """The script and its arguments for one step, full size or tiny."""
    both = [] if quick else ["--postgres", postgres]
    # Quick: on SQLite only, with the engine in the polling process and in one of its own.
    only = ["--only", "ours-sqlite,ours-sqlite-2p,conventional"] if quick else []
    inbound = ["inbound.py", *only, "--postgres", postgres]
    return {
        # Three rounds: this shared host's speed moves too much for one run to tell a ratio.
        "inbound": [*inbound, "--citizens", "3" if quick else "40", "--runs", "1" if quick else "3"],
        "inbound-200": [*inbound, "--citizens", "4" if quick else "200"],
        "flood": [*inbound, "--flood", "--citizens", "3" if quick else "40"],
        "webhooks": ["webhooks.py", *(["--posts", "12", "--senders", "4"] if quick else both)],
        "first-alert": ["first_alert.py", *(["--citizens", "2"] if quick else [])],
        "fanout": ["fanout.py", *(["--quick", "--only", "c"] if quick else [])],
        "memory": [
            "memory.py",
            *(["--contacts", "500", "--reports", "500"] if quick else []),
        ],
        "imports": [
            "imports.py",
            "--only",
            "sqlite" if quick else "sqlite,postgres",
            "--postgres",
            postgres,
            *(["--rows", "300"] if quick else []),
        ],
    }[step]


def run_step(step: str, quick: bool, postgres: str, workdir: Path) -> dict[str, Any]:
    """Run one script with --json; its figures, its exit code and how long it took."""
    out = workdir / f"{step}.json"
    script, *rest = arguments(step, quick, postgres)
    command = [sys.executable, str(HERE / script), *rest, "--json", str(out)]
    print(f"\n== {step}: {' '.join(['python', 'bench/' + script, *rest])}", flush=True)
    started = time.monotonic()
    exit_code = subprocess.call(command, cwd=HERE.parent)
    figures = json.loads(out.read_text()) if out.exists() else None
    return {"exit_code": exit_code, "seconds": time.monotonic() - started, "figures": figures}


def _number(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _inbound(figures: list[dict[str, Any]], label: str) -> list[tuple[str, str, str]]:
    rows = {r["contender"]: r for r in figures}
    conventional = rows.get("conventional")
    lines = []
    for name, r in rows.items():
        ratio = ""
        if r.get("ratio") is not None:  # the median of the rounds' own ratios
            ratio = f" = {r['ratio']:.2f}x"
        elif conventional and name != "conventional" and conventional["updates_per_second"]:
            ratio = f" = {r['updates_per_second'] / conventional['updates_per_second']:.2f}x"
        lines.append(
            (
                f"{label}: {name}",
                f"{r['completed']}/{r['citizens']} done, {_number(r['updates_per_second'], 1)} upd/s{ratio},"
                f" p50 {_number(r['p50_ms'])} ms, p95 {_number(r['p95_ms'])} ms,"
                f" CPU {_number(r.get('cpu_ms_per_update'), 1)} ms an update",
                "ratio >= 1.0, p50 no slower" if not r["flood"] else "all done, >= 0.9 of 30/s",
            )
        )
    return lines


def _webhooks(figures: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (
            f"webhooks: {r['database']}",
            f"{r['status_200']}/{r['posts']} answered 200, p50 {_number(r['response_p50_ms'])} ms,"
            f" p95 {_number(r['response_p95_ms'])} ms; every answer at the fakes in"
            f" {_number(r['all_answers_s'], 2)} s",
            "p95 < 500 ms",
        )
        for r in figures
    ]


def _first_alert(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            f"report to first alert: {figures['database']}",
            f"{figures['alerted']}/{figures['citizens']} alerted, p50 {_number(figures['alert_p50_ms'])} ms,"
            f" p95 {_number(figures['alert_p95_ms'])} ms",
            "p95 < 300 ms",
        )
    ]


def _fanout(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    shown = ", ".join(f"{k} {v:.3f}" for k, v in figures.items() if isinstance(v, float))
    return [(f"fan-out: {figures['database']}", shown, "see bench/fanout.py")]


def _memory(figures: Any) -> list[tuple[str, str, str]]:
    rows = figures if isinstance(figures, list) else [figures]
    return [
        (
            f"peak RSS of serve: {r.get('database', '')}",
            f"{_number(r.get('peak_mb'), 1)} MB with {r.get('contacts'):,} contacts and"
            f" {r.get('reports'):,} reports",
            "< 300 MB",
        )
        for r in rows
    ]


def _imports(figures: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (
            f"import-contacts: {r['database']}",
            f"{r['rows']:,} rows: {r['first']['seconds']:.1f} s, again {r['again']['seconds']:.1f} s,"
            f" changed {r['changed']['seconds']:.1f} s",
            "< 15 s",
        )
        for r in figures
    ]


SUMMARIES: dict[str, Callable[[Any], list[tuple[str, str, str]]]] = {
    "inbound": lambda f: _inbound(f, "inbound, limits lifted"),
    "inbound-200": lambda f: _inbound(f, "inbound, limits lifted, more citizens"),
    "flood": lambda f: _inbound(f, "inbound, flood control"),
    "webhooks": _webhooks,
    "first-alert": _first_alert,
    "fanout": _fanout,
    "memory": _memory,
    "imports": _imports,
}


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, SQLite only: a smoke test")
    parser.add_argument("--only", default=",".join(STEPS), help="steps, comma-separated")
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES", LOCAL_POSTGRES))
    parser.add_argument("--json", default="bench-results.json")
    args = parser.parse_args()
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {', '.join(unknown)}; known: {', '.join(STEPS)}")
    results: dict[str, Any] = {"quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with tempfile.TemporaryDirectory() as workdir:
        for step in steps:
            results[step] = run_step(step, args.quick, args.postgres, Path(workdir))
    print("\n" + "=" * 100)
    failed = []
    for step in steps:
        result = results[step]
        if result["exit_code"] != 0 or result["figures"] is None:
            failed.append(step)
            print(f"{step:40} did not finish (exit code {result['exit_code']})")
            continue
        for name, shown, target in SUMMARIES[step](result["figures"]):
            print(f"{name:40} {shown}  [target: {target}]")
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"figures written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
