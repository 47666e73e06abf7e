"""What every channel's sender promises the dispatcher, and the outcomes a send can have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to send with the message: where it is, what to call it, and its token for a media URL."""

    path: str
    filename: str
    content_type: str
    token: str
    # photo, voice or video for what people sent (None for exports and charts); Telegram's id to resend.
    kind: str | None = None
    telegram_file_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message taken from the outbox, as a channel needs it to send."""

    id: int
    channel: str
    address: str
    text: str
    choices: tuple[tuple[str, str], ...]
    attempts: int
    purpose: str = "reply"
    # Lower goes first when the channel's limit makes messages wait (handlers/outbox.py).
    priority: int = 0
    template_sid: str | None = None
    template_variables: dict[str, str] | None = None
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """The provider took the message."""

    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """A temporary failure: try again later, not before `after` seconds if the provider said so."""

    reason: str
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """A permanent failure: trying again would fail the same way."""

    reason: str
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class Moved:
    """The chat has a new address (a Telegram group became a supergroup): send there instead."""

    new_address: str


Outcome = Sent | Retry | Failed | Moved


class Sender(Protocol):
    """Sends one outbox message on one channel and says how it went; never raises for provider errors."""

    channel: str

    async def send(self, message: Outgoing) -> Outcome: ...


async def close(sender: Sender) -> None:
    """Let go of a sender's connections when sending stops, for those that keep any (`close`)."""
    closing = getattr(sender, "close", None)
    if closing is not None:
        await closing()


def numbered(text: str, choices: tuple[tuple[str, str], ...]) -> str:
    """Options as numbered lines under the text, for channels without buttons."""
    if not choices:
        return text
    lines = [f"{i}. {label}" for i, (_key, label) in enumerate(choices, start=1)]
    return text + "\n\n" + "\n".join(lines)


# What people send that the bot passes on, by the start of its content type.
MEDIA_KINDS = {"image/": "photo", "audio/": "voice", "video/": "video"}


def kind_of(content_type: str) -> str | None:
    """'photo', 'voice' or 'video'; None for a document or anything else."""
    return next((kind for prefix, kind in MEDIA_KINDS.items() if content_type.startswith(prefix)), None)
