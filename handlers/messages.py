"""What a channel hands the engine, and what the engine hands back: the only shapes they share."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

# The longest values the tables keep: a sender's address and a provider's message id.
MAX_ADDRESS = 64
MAX_EXTERNAL_ID = 80
# Characters no person types and some databases refuse (PostgreSQL takes no NUL): Unicode's control
# characters (category Cc, a fixed set) and lone surrogates from a broken encoding (Cs). One character
# class, not a category looked up per character: it runs on every message.
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, but for line breaks and tabs, which a text keeps (a carriage return goes).
_REFUSED_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Choice:
    """An option under a question: a button on Telegram, a numbered line elsewhere."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to a person: text plus the options they may pick from."""

    text: str
    choices: tuple[Choice, ...] = ()
    # A file sent with the text (handlers/documents.py): an export or a chart.
    document_id: int | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """A photo, voice note or video someone sent, as the channel fetched it into MEDIA_DIR."""

    kind: str  # photo, voice, video, or file
    content_type: str
    # The file in MEDIA_DIR once fetched; None while only the provider's reference (`source`) is known,
    # or when it could not be kept (`problem`: "too_large" or "unavailable").
    path: str | None = None
    telegram_file_id: str | None = None
    source: str | None = None
    size: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a person, normalised the same way whatever channel brought it."""

    channel: str
    address: str
    external_id: str
    text: str | None = None
    choice: str | None = None
    location: tuple[float, float] | None = None
    media: Media | None = None

    @property
    def kind(self) -> str:
        """What sort of message this is, for the record; never its content."""
        if self.choice is not None:
            return "choice"
        if self.media is not None:
            return self.media.kind
        if self.location is not None:
            return "location"
        if self.text:
            return "text"
        return "other"


def cleaned_text(text: str | None) -> str | None:
    """The text without control characters or lone surrogates, so every database stores it alike."""
    if text is None:
        return None
    return _REFUSED_IN_TEXT.sub("", text)


def acceptable(inbound: Inbound) -> Inbound | None:
    """The message with its text cleaned; None when its sender or id cannot be real (too long, empty)."""
    if not inbound.address or len(inbound.address) > MAX_ADDRESS:
        return None
    if not inbound.external_id or len(inbound.external_id) > MAX_EXTERNAL_ID:
        return None
    if _REFUSED.search(inbound.address) or _REFUSED.search(inbound.external_id):
        return None
    return replace(inbound, text=cleaned_text(inbound.text), choice=cleaned_text(inbound.choice))


def stored(inbound: Inbound) -> dict[str, Any]:
    """The message as JSON, to wait in the inbox (bot/inbox.py) until it is handled."""
    return asdict(inbound)


def from_stored(data: dict[str, Any]) -> Inbound:
    """The message back from the inbox."""
    media = data.get("media")
    location = data.get("location")
    return Inbound(
        **{
            **data,
            "media": Media(**media) if media else None,
            "location": (location[0], location[1]) if location else None,
        }
    )
