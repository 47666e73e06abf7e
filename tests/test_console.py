"""The console simulator as a newcomer runs it: a subprocess with piped input and no token or network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from chat import FULL_REPORT

ROOT = Path(__file__).parent.parent


def run_console(lines: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


def test_a_newcomer_gets_a_report_code_from_the_console(tmp_path: Path) -> None:
    result = run_console(list(FULL_REPORT), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Simulator konsol" in result.stdout
    assert "1. Bentrok antarkelompok atau perguruan silat" in result.stdout
    assert re.search(r"Kode laporan: LPR-[A-Z0-9]{5}", result.stdout)
    assert (tmp_path / "pelapor.db").exists(), (
        "the embedded default database is a file in the working directory"
    )
    # The screen shows the conversation only; the log, with the channels line, is in a file.
    assert result.stderr == ""
    assert "receiving on console; sending on console" in (tmp_path / "pelapor.log").read_text()


def test_the_console_resumes_a_draft_after_a_restart(tmp_path: Path, database_url: str) -> None:
    first = run_console(list(FULL_REPORT[:5]), tmp_path, DATABASE_URL=database_url)
    assert "Ceritakan apa yang terjadi" in first.stdout.rsplit(">", 1)[-1]
    second = run_console(list(FULL_REPORT[5:]), tmp_path, DATABASE_URL=database_url)
    assert "Kode laporan: LPR-" in second.stdout


def test_logs_hold_no_phone_number_or_report_text(tmp_path: Path) -> None:
    result = run_console(
        ["lapor", "1", "jember", "ya", "1", "Telepon saya 081234567890, nama saya Budi Santoso"], tmp_path
    )
    logged = result.stderr + (tmp_path / "pelapor.log").read_text()
    assert "receiving on console" in logged, "the log was written, and read here"
    assert "081234567890" not in logged
    assert "Budi" not in logged


def test_poll_without_a_token_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "poll"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "TELEGRAM_BOT_TOKEN" in result.stderr


def test_serve_with_half_the_twilio_settings_names_the_missing_one(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "PUBLIC_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "TWILIO_ACCOUNT_SID": "AC" + "0" * 32},
        timeout=60,
    )
    assert result.returncode == 2
    assert "TWILIO_AUTH_TOKEN" in result.stderr
