"""The console simulator: a real channel that reads lines and prints replies, for trying the bot by hand."""

from __future__ import annotations

import sys
import uuid
from typing import TextIO

from bot.channels.base import Outcome, Outgoing, Sent, numbered
from handlers.messages import Inbound

CHANNEL = "console"


def parse_line(line: str, address: str) -> Inbound:
    """One typed line as an inbound message; each line gets its own id."""
    return Inbound(channel=CHANNEL, address=address, external_id=uuid.uuid4().hex, text=line.rstrip("\r\n"))


class ConsoleSender:
    """Prints replies with numbered options, as WhatsApp shows them."""

    channel = CHANNEL

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    async def send(self, message: Outgoing) -> Outcome:
        self.out.write("\n" + numbered(message.text, message.choices) + "\n")
        if message.attachment is not None:
            self.out.write(f"[{message.attachment.filename}: {message.attachment.path}]\n")
        self.out.flush()
        return Sent(provider_id=None)
