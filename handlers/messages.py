"""What a channel hands the engine, and what the engine hands back: the only shapes they share."""

from __future__ import annotations

from dataclasses import dataclass


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
class Inbound:
    """One message from a person, normalised the same way whatever channel brought it."""

    channel: str
    address: str
    external_id: str
    text: str | None = None
    choice: str | None = None
    location: tuple[float, float] | None = None
    photo: str | None = None

    @property
    def kind(self) -> str:
        """What sort of message this is, for the record; never its content."""
        if self.choice is not None:
            return "choice"
        if self.photo is not None:
            return "photo"
        if self.location is not None:
            return "location"
        if self.text:
            return "text"
        return "other"
