"""The bot as deployed: `python -m bot COMMAND` in a child process, with its log, and waiting on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).parent.parent
# Settings the test gives explicitly; whatever the developer's shell holds must not leak in.
OWN_SETTINGS = (
    "TELEGRAM_",
    "TWILIO_",
    "DATABASE_",
    "PUBLIC_",
    "PORT",
    "SEND_",
    "OUTBOX_",
    "ACK_",
    "WHATSAPP_",
)


@contextmanager
def bot_process(command: str, log: Path, **settings: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m bot COMMAND` with these settings and no .env file; killed on the way out."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", command],
            cwd=log.parent,  # no .env file there
            env={**clean, "PYTHONPATH": str(ROOT), **settings},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def wait_for(
    what: str,
    done: Callable[[], object],
    process: subprocess.Popen[bytes],
    log: Path,
    *,
    timeout: float,
    every: float = 0.05,
) -> None:
    """Poll until `done()`; fail early, with the bot's log, if the bot exits first."""
    deadline = time.monotonic() + timeout
    while not done():
        if process.poll() is not None:
            raise AssertionError(f"the bot exited ({process.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{log.read_text()}")
        time.sleep(every)


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, as a supervisor stops the bot; it must exit cleanly."""
    process.terminate()
    returncode = process.wait(timeout=15)
    assert returncode in (0, -15), log.read_text()
