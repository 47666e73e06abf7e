"""One turn of a conversation: what came in, the person's state, and the replies to send."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.catalog import sms_form, text
from handlers.alerts.policy import Policy
from handlers.matching import pick, pick_many
from handlers.messages import Choice, Inbound, Reply
from models.db import changed, flushing_only
from models.tables import Contact, Conversation

# What a step's answer function returns to stay on the same question (after it gave a hint).
STAY: None = None


@dataclass
class Turn:
    """Everything a step may look at or change while handling one inbound message."""

    session: Session
    conversation: Conversation
    inbound: Inbound
    now: datetime
    state: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    # Choices of the last question, so "2" or "dua" can be understood on the next turn.
    offered: list[Choice] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    _contact: list[Contact | None] = field(default_factory=list, repr=False)
    # The active contacts among a page's senders, read together (`PageConversations`); None for a message
    # alone. Once a contact is written in the transaction, each turn looks its own up again.
    page_contacts: Callable[[], dict[tuple[str, str], Contact]] | None = field(default=None, repr=False)

    @property
    def contact(self) -> Contact | None:
        """The active pioneer, forum member or coordinator writing, by their address; None for a citizen."""
        if not self._contact:
            column = Contact.address_on(self.inbound.channel)
            found = None
            if self.page_contacts is not None and not changed(self.session, Contact):
                found = self.page_contacts().get((self.inbound.channel, self.inbound.address))
            elif column is not None:
                with flushing_only(self.session, Contact):
                    found = self.session.scalar(
                        select(Contact).where(column == self.inbound.address, Contact.active.is_(True))
                    )
            self._contact.append(found)
        return self._contact[0]

    def known_contact(self, contact: Contact) -> None:
        """The sender just became this contact."""
        self._contact[:] = [contact]

    @property
    def language(self) -> str:
        return self.conversation.language

    def t(self, key: str, **values: object) -> str:
        """A sentence from the person's catalog."""
        if self.inbound.channel == "sms":
            key = sms_form(self.language, key)  # the shorter form a feature phone gets, where there is one
        return text(self.language, key, **values)

    def say(self, key: str, choices: Sequence[Choice] = (), **values: object) -> None:
        """Queue a reply from the catalog, with options under it."""
        self.send(self.t(key, **values), choices)

    def send(self, body: str, choices: Sequence[Choice] = ()) -> None:
        """Queue a reply that was already put together from catalog sentences."""
        self.replies.append(Reply(body, tuple(choices)))
        self.offered = list(choices)

    def send_file(self, body: str, document_id: int) -> None:
        """Queue a file (an export, a chart) with its caption."""
        self.replies.append(Reply(body, (), document_id))

    def hint(self, key: str, **values: object) -> None:
        """A short note before the same question is asked again."""
        self.replies.append(Reply(self.t(key, **values)))

    @property
    def answer_text(self) -> str:
        return (self.inbound.text or "").strip()

    def chosen(
        self, choices: Sequence[Choice], synonyms: dict[str, Iterable[str]] | None = None
    ) -> Choice | None:
        """The option picked, by button, by number or by words; None if the answer is something else."""
        if self.inbound.choice is not None:
            return next((c for c in choices if c.key == self.inbound.choice), None)
        if not self.answer_text:
            return None
        return pick(self.answer_text, choices, synonyms)

    def chosen_many(
        self, choices: Sequence[Choice], synonyms: dict[str, Iterable[str]] | None = None
    ) -> list[Choice] | None:
        """Several options in one typed answer ("1, 3"); a button press is one option."""
        if self.inbound.choice is not None:
            found = self.chosen(choices)
            return [found] if found else None
        if not self.answer_text:
            return None
        return pick_many(self.answer_text, choices, synonyms)


@dataclass(frozen=True)
class Step:
    """One question of a flow: how to ask it, how to take the answer, and what /bantuan says about it."""

    name: str
    ask: Callable[[Turn], None]
    answer: Callable[[Turn], str | None]
    help_key: str


@dataclass(frozen=True)
class Flow:
    """A named set of steps, where it starts, what ends it, and which answers can be fixed from a summary."""

    name: str
    steps: dict[str, Step]
    first: str
    finish: Callable[[Turn], None]
    summary: str | None = None
    editable: tuple[str, ...] = ()
    # Given the state and the step that would come next, the step to ask instead (one already answered
    # is passed over).
    skip: Callable[[dict[str, Any], str], str] | None = None

    def step(self, name: str) -> Step:
        return self.steps[name]

    def after(self, current: str, wanted: str, fixing: str | None) -> str:
        """The next step; while fixing one answer, the summary comes back once that answer is in."""
        if fixing and self.summary and wanted in self.editable and wanted != fixing:
            return self.summary
        return wanted

    def next_of(self, state: dict[str, Any], current: str, wanted: str) -> str:
        """The step to ask after `current`: `after`, then passing over what is already answered."""
        following = self.after(current, wanted, state.get("fixing"))
        return self.skip(state, following) if self.skip else following


# Step names an answer function may return besides real steps.
FINISH = "__finish__"
CANCEL = "__cancel__"
# Leave the flow without finishing it and without a word: the step has said what there is to say.
END = "__end__"


def choices_of(turn: Turn, prefix: str, keys: Iterable[str], catalog_prefix: str) -> list[Choice]:
    """Options whose labels come from the catalog: key `cat:tawuran`, label from `category.tawuran`."""
    return [Choice(f"{prefix}:{key}", turn.t(f"{catalog_prefix}.{key}")) for key in keys]


def value_of(choice: Choice) -> str:
    """The stored value of an option: `cat:tawuran` -> `tawuran`."""
    return choice.key.split(":", 1)[1]


def start_flow(turn: Turn, flow: Flow, state: dict[str, Any] | None = None) -> None:
    """Begin a flow from its first question, with an empty draft or the one given."""
    turn.conversation.flow, turn.conversation.step = flow.name, flow.first
    turn.state = dict(state or {})
    flow.step(flow.first).ask(turn)


def end_flow(turn: Turn) -> None:
    """Leave the flow and forget its draft."""
    turn.conversation.flow = turn.conversation.step = None
    turn.state = {}
