"""The benchmarks still run: `python -m bench --quick` at a tiny size, on SQLite; nothing is timed here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_benchmarks_run_end_to_end_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--only",
        "inbound,webhooks,imports",
        "--json",
        str(out),
    ]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    results = json.loads(out.read_text())

    inbound = {r["contender"]: r for r in results["inbound"]["figures"]}
    # Both bots took every citizen through the whole report, each answer to its question.
    assert {name: (r["completed"], r["citizens"]) for name, r in inbound.items()} == {
        "ours-sqlite": (3, 3),
        "ours-sqlite-2p": (3, 3),
        "conventional": (3, 3),
    }
    webhooks = results["webhooks"]["figures"][0]
    assert (webhooks["status_200"], webhooks["answers_arrived"]) == (webhooks["posts"], webhooks["posts"])
    imports = results["imports"]["figures"][0]
    assert imports["rows"] == 300
    # The summary the runner prints names every step with its target.
    for line in ("inbound, limits lifted: ours-sqlite", "webhooks: sqlite", "import-contacts: sqlite"):
        assert line in finished.stdout
