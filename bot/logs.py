"""Logging that never writes a phone number, a name, a chat id or a token."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable

from lokal.samaran.logging import SamaranFilter


class SecretFilter(logging.Filter):
    """Replaces the configured secrets wherever they appear, such as a bot token inside a URL."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]
        self._formatter = logging.Formatter()

    def _hide(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[SECRET]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self._hide(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._hide(record.exc_text)  # a token inside a URL in a traceback
        return True


def setup(level: str, secrets: Iterable[str] = (), *, file: str | None = None) -> None:
    """Log to stderr through both filters; chatty HTTP libraries only warn, since they log URLs.

    With `file` (the console), the log goes there and the screen shows only errors, so the
    conversation is not interrupted.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        handlers[0].setLevel(logging.ERROR)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        handler.addFilter(SecretFilter(secrets))
        handler.addFilter(SamaranFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp", "telegram", "twilio", "urllib3", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Outage:
    """A loop that keeps failing the same way logs its traceback once, then one short line a minute.

    During a database outage the dispatcher and the timers retry every second; a traceback each time
    would bury everything else (380 KB in 25 s). Recovery is logged once too.
    """

    EVERY_SECONDS = 60.0

    def __init__(
        self, logger: logging.Logger, what: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger, self.what, self.clock = logger, what, clock
        self.failures = 0
        self.kind = ""
        self.last_said = 0.0

    def failed(self, error: BaseException) -> None:
        """Call from the `except` block of each failed round."""
        kind = type(error).__name__
        self.failures += 1
        now = self.clock()
        if self.failures == 1 or kind != self.kind:
            self.logger.error("%s failed; trying again", self.what, exc_info=error)
            self.kind, self.last_said = kind, now
        elif now - self.last_said >= self.EVERY_SECONDS:
            self.logger.warning("%s still failing: %s, %d times so far", self.what, kind, self.failures)
            self.last_said = now

    def succeeded(self) -> None:
        """Call after each round that went through."""
        if self.failures:
            self.logger.warning("%s works again after %d failed tries", self.what, self.failures)
            self.failures, self.kind = 0, ""
