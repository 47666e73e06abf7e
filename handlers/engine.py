"""The conversation engine: one inbound message in, state and replies out, all in one transaction."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from config.catalog import text
from handlers import acknowledgement, drafts, floods, language, lexicon, privacy, report, story
from handlers.alerts.policy import Policy
from handlers.codes import find_code
from handlers.commands import citizens, table
from handlers.commands.command import Command
from handlers.conversation import CANCEL, END, FINISH, STAY, Flow, Turn, end_flow
from handlers.messages import Inbound, Reply, acceptable
from handlers.outbox import OTHERS_QUEUED, QUEUED, REPLY, WRITERS, enqueue, hurry, still_open
from handlers.pioneers import checkins, invitations, tasks
from models.base import utcnow
from models.db import Database, dialect_insert, flushing_only, per_dialect, remembering
from models.tables import SENDING, Contact, Conversation, InboundMessage, OutboxMessage

logger = logging.getLogger(__name__)

# A message after this long a break may be someone coming back rather than an answer.
RESUME_AFTER = timedelta(minutes=10)
FLOWS: dict[str, Flow] = {
    f.name: f
    for f in (
        report.FLOW,
        citizens.STATUS_FLOW,
        citizens.LANGUAGE_FLOW,
        invitations.JOIN_FLOW,
        checkins.CHECKIN_FLOW,
        tasks.ACT_FLOW,
        privacy.ERASE_FLOW,
    )
}


# The statements of every turn are built once, with parameters: on SQLite, building a statement and its
# cache key took longer than running it.
_CONVERSATION = (
    select(Conversation, floods.EARLIER_MESSAGES)
    .where(Conversation.channel == bindparam("channel"), Conversation.address == bindparam("address"))
    .with_for_update(of=Conversation)
)
_RECORDED = per_dialect(
    lambda insert: (
        insert(InboundMessage)
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(InboundMessage.id)
    )
)
# A first-time sender's conversation; none comes back when another transaction made it meanwhile.
_NEW_CONVERSATION = per_dialect(
    lambda insert: (
        insert(Conversation)
        .values(
            channel=bindparam("channel"),
            address=bindparam("address"),
            state={},
            # Two names for one moment: with numbered placeholders (models/db.py), SQLAlchemy's
            # multi-row insert numbers a name used twice wrongly on PostgreSQL.
            created_at=bindparam("now"),
            updated_at=bindparam("then"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "address"])
        .returning(Conversation.channel, Conversation.address)
    )
)


def conversation_for(session: Session, channel: str, address: str, now: datetime) -> tuple[Conversation, int]:
    """The person's conversation, created on first contact and locked for this transaction, and how many
    messages they sent in the minute before this one."""
    who = {"channel": channel, "address": address, "since": floods.since(now)}
    # Nothing waiting to be flushed can be this row (conversations are only ever inserted below), so the
    # turns of a page leave their writes for one flush together.
    with session.no_autoflush:
        found = session.execute(_CONVERSATION, who).first()
    if found is not None:
        return found[0], found[1]
    # On the connection: through the session, the insert would first flush the page's other turns.
    new = {"channel": channel, "address": address, "now": now, "then": now}
    session.connection().execute(_NEW_CONVERSATION[dialect_insert(session)], new)
    with session.no_autoflush:
        conversation, earlier = session.execute(_CONVERSATION, who).one()
    return conversation, earlier


# The conversations of a page's senders in one query, in one order whoever asks (see `conversation_for`).
_CONVERSATIONS = (
    select(Conversation, floods.EARLIER_MESSAGES)
    .where(
        Conversation.channel.in_(bindparam("channels", expanding=True)),
        Conversation.address.in_(bindparam("addresses", expanding=True)),
    )
    .order_by(Conversation.id)
    .with_for_update(of=Conversation)
)


class PageConversations:
    """A page's conversations read in one query instead of one a turn, each with its minute count.

    Those writing for the first time get theirs created together first, in one statement, outside the
    page's savepoint: should the page be taken again, they are there. A sender's later message in the
    page counts the earlier ones handled since (`recorded`). When the page's turns share a savepoint,
    their messages' ids are written together once they are done (`write`), in one statement instead of
    one a turn.
    """

    def __init__(self, session: Session, people: set[tuple[str, str]], now: datetime) -> None:
        self.found = self._read(session, people, now)
        # Created by this transaction: they have no timers, no reports, nothing to look up yet.
        self.new: set[tuple[str, str]] = set()
        missing = sorted(people - self.found.keys())
        if missing:
            rows = [{"channel": c, "address": a, "now": now, "then": now} for c, a in missing]
            made = session.connection().execute(_NEW_CONVERSATION[dialect_insert(session)], rows)
            self.new = {(channel, address) for channel, address in made}
            self.found |= self._read(session, set(missing), now)
        self._session, self._people = session, people
        self._contacts: dict[tuple[str, str], Contact] | None = None
        self.recorded: Counter[tuple[str, str]] = Counter()
        self.unwritten: dict[tuple[str, str], dict[str, object]] | None = None
        # Conversations whose drafts were sent or cancelled in the page, their timers forgotten in `write`.
        self.finished_drafts: list[Conversation] | None = None

    @staticmethod
    def _read(
        session: Session, people: set[tuple[str, str]], now: datetime
    ) -> dict[tuple[str, str], tuple[Conversation, int]]:
        values = {
            "channels": sorted({channel for channel, _ in people}),
            "addresses": sorted({address for _, address in people}),
            "since": floods.since(now),
        }
        with session.no_autoflush:
            rows = session.execute(_CONVERSATIONS, values).all()
        return {
            (c.channel, c.address): (c, earlier) for c, earlier in rows if (c.channel, c.address) in people
        }

    def contacts(self) -> dict[tuple[str, str], Contact]:
        """The active contacts among the page's senders, read the first time a turn asks."""
        if self._contacts is None:
            self._contacts = _active_contacts(self._session, self._people)
        return self._contacts

    def restart(self, *, together: bool) -> None:
        """Before the page's turns are taken (again): what an undone attempt counted is gone."""
        self.recorded.clear()
        self.unwritten = {} if together else None
        self.finished_drafts = [] if together else None

    def of(self, session: Session, inbound: Inbound, now: datetime) -> tuple[Conversation, int]:
        """The sender's conversation, locked, and how many messages they sent in the minute before."""
        key = (inbound.channel, inbound.address)
        if key in self.found:
            conversation, earlier = self.found[key]
            return conversation, earlier + self.recorded[key]
        # Not in the page it was made for (a caller's mistake): looked up as a single message's would be.
        return conversation_for(session, inbound.channel, inbound.address, now)

    def first_contact(self, inbound: Inbound) -> bool:
        """The sender's conversation was created for this page, and this is their first turn in it."""
        key = (inbound.channel, inbound.address)
        return key in self.new and not self.recorded[key]

    def record(self, conversation: Conversation, inbound: Inbound, now: datetime) -> bool:
        """Keep the message's id for `write`; False when the page held it already."""
        key = (inbound.channel, inbound.external_id)
        if self.unwritten is None or key in self.unwritten:
            return False
        self.unwritten[key] = _recorded_values(conversation, inbound, now)
        return True

    def draft_finished(self, session: Session, conversation: Conversation, now: datetime) -> None:
        """A draft sent or cancelled: its timers forgotten with the page's others in `write`."""
        if self.finished_drafts is None:
            drafts.forget(session, conversation, now=now)
        else:
            self.finished_drafts.append(conversation)

    def draft_begins(self, session: Session, conversation: Conversation, now: datetime) -> None:
        """Before a draft's timers are set or moved: those of its draft finished earlier in the page go."""
        if self.finished_drafts and any(c is conversation for c in self.finished_drafts):
            self.finished_drafts = [c for c in self.finished_drafts if c is not conversation]
            drafts.forget(session, conversation, now=now)

    def write(self, session: Session, now: datetime) -> None:
        """The ids of the page's messages, in one statement; one handled before undoes the page. Then
        the timers of the drafts its turns finished, in one more.

        A redelivery is rare (a crash before Telegram was told, a webhook sent twice), so it is found
        here rather than looked for on every page: the turns are then taken one by one, and it is skipped.
        """
        rows = list((self.unwritten or {}).values())
        finished, self.unwritten, self.finished_drafts = self.finished_drafts or [], None, None
        if rows:
            written = session.connection().execute(_RECORDED[dialect_insert(session)], rows).all()
            if len(written) < len(rows):
                raise _Redelivered(f"{len(rows) - len(written)} of a page's messages were handled before")
        drafts.forget_all(session, sorted({c.id for c in finished}), now=now)


def _active_contacts(session: Session, people: set[tuple[str, str]]) -> dict[tuple[str, str], Contact]:
    """The active contacts among the senders, by address: one query for a page instead of one a turn."""
    by_channel: dict[str, list[str]] = {}
    for channel, address in people:
        if Contact.address_on(channel) is not None:
            by_channel.setdefault(channel, []).append(address)
    if not by_channel:
        return {}
    on_any = or_(*(Contact.address_on(channel).in_(sorted(a)) for channel, a in by_channel.items()))
    with flushing_only(session, Contact):
        found = session.scalars(select(Contact).where(on_any, Contact.active.is_(True)).order_by(Contact.id))
    contacts: dict[tuple[str, str], Contact] = {}
    for contact in found:
        for channel in by_channel:
            address = getattr(contact, Contact.address_on(channel).key)
            if (channel, address) in people:
                contacts.setdefault((channel, address), contact)
    return contacts


def _recorded_values(conversation: Conversation, inbound: Inbound, now: datetime) -> dict[str, object]:
    return {
        "channel": inbound.channel,
        "external_id": inbound.external_id,
        "conversation_id": conversation.id,
        "kind": inbound.kind,
        "received_at": now,
    }


def record_inbound(
    session: Session,
    conversation: Conversation,
    inbound: Inbound,
    now: datetime,
    people: PageConversations | None = None,
) -> bool:
    """Remember the provider's message id; False when it was handled before (a redelivery).

    In a page whose turns share a savepoint, the id is written with the others once they are done.
    """
    if people is not None and people.unwritten is not None:
        return people.record(conversation, inbound, now)
    # On the connection (Core): no object is loaded or written, so the ORM would add only its cost.
    statement = _RECORDED[dialect_insert(session)]
    return (
        session.connection().execute(statement, _recorded_values(conversation, inbound, now)).first()
        is not None
    )


class _Redelivered(Exception):
    """A message of a page was handled before: the page is taken again one turn at a time."""


# How `_handle` takes a page's turns: together with no savepoint (the caller undoes the transaction
# should one fail), together in one savepoint (rolled back should one fail, then one by one), or one by
# one, each in a savepoint of its own.
_BARE, _PAGE_SAVEPOINT, _EACH = "bare", "page savepoint", "each"


class _Undone(Exception):
    """A turn taken without a savepoint failed: the caller undoes the transaction and takes them again."""


class _StepFailed(Exception):
    """A flow's step raised: the turn is taken again as one that failed."""


class Handoff(Protocol):
    """A dispatcher in this process that takes replies straight after their commit, without a claim."""

    lease: timedelta

    def accepts(self, channel: str) -> bool:
        """Whether it is sending on this channel now."""
        ...

    def sending_now(self, ids: list[int]) -> bool:
        """Whether these messages are all being sent by it now; what it is handed then follows them."""
        ...

    def prepare(self, message: OutboxMessage) -> object:
        """What it needs of a message, read while the transaction is open."""
        ...

    def take(self, prepared: list[object]) -> None:
        """Send these, in order; called after the commit, possibly from a worker thread."""
        ...


@dataclass
class Handled:
    """What handling messages in one transaction came to, for after its commit."""

    # Per message handled, in order: False for a redelivery or an unusable one. Shorter than the
    # messages when one failed (`failure`), or when time was up; the rest were not handled.
    results: list[bool] = field(default_factory=list)
    failure: Exception | None = None
    handed: list[object] = field(default_factory=list)
    others_queued: bool = False


class Engine:
    """Handles one inbound message at a time; channels call `handle` and the dispatcher sends the replies."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        notify: Callable[[], None] | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.notify = notify or (lambda: None)
        self.policy = policy or Policy()
        # Set while this process's dispatcher runs: replies then go out right after their commit.
        self.handoff: Handoff | None = None

    def handle(self, inbound: Inbound) -> bool:
        """Handle a message exactly once; False when it was a redelivery or unusable and nothing was done."""
        return self.handle_many([inbound]).results[0]  # alone, a failure raises

    def handle_many(self, inbounds: Sequence[Inbound], *, within: float | None = None) -> Handled:
        """Handle messages in order in one transaction: one commit for several.

        The turns are first taken together without any savepoint, their writes in one flush before
        the replies are handed over (so those are inserted as being sent). Should one fail, that is
        rare, the transaction is undone and they are taken again in a new one, each turn in a savepoint
        of its own: it then stops at the one that fails (those before it are committed; the caller
        hands that one and the rest again). It also stops once `within` seconds have gone, so the first
        replies are not held back by the last turns. A message alone, or a failed commit, raises.
        """
        try:
            with self.db.transaction() as session:
                try:
                    handled = self._handle(session, inbounds, within=within, attempt=_BARE)
                except Exception as error:
                    raise _Undone from error
        except _Undone:
            logger.info("a turn in a page of %d failed; taking them one by one", len(inbounds))
            with self.db.transaction() as session:
                handled = self._handle(session, inbounds, within=within, attempt=_EACH, alone_raises=True)
        self.committed(handled)
        return handled

    def handle_in(
        self, session: Session, inbounds: Sequence[Inbound], *, within: float | None = None
    ) -> Handled:
        """Handle messages in the caller's transaction; after its commit the caller calls `committed`.

        The turns of a page share one savepoint, and their writes one flush. Should any of them fail,
        the savepoint is rolled back and they are taken again with a savepoint each, so a failure costs
        only its own message (`Handled.failure`); that is rare, and every other page saves two
        statements and a flush a turn.
        """
        return self._handle(session, inbounds, within=within, attempt=_PAGE_SAVEPOINT)

    def _handle(
        self,
        session: Session,
        inbounds: Sequence[Inbound],
        *,
        within: float | None,
        attempt: str,
        alone_raises: bool = False,
    ) -> Handled:
        """The turns as `attempt` says, then the writers' replies handed over.

        Reads its turns would each repeat, such as a place's contacts, are done once (`remembering`).
        """
        now = self.clock()
        session.info[WRITERS] = {(i.channel, i.address) for i in inbounds}
        handled: Handled | None = None
        people = None
        # Each message as the channel gave it and cleaned, or None when its sender or id cannot be real.
        messages = [(inbound, acceptable(inbound)) for inbound in inbounds]
        if len(inbounds) > 1:  # only real senders get a conversation, as in their own turn
            senders = {(u.channel, u.address) for _, u in messages if u is not None}
            people = PageConversations(session, senders, now)
        with remembering(session) if people is not None else nullcontext():
            if attempt == _BARE:  # a failure goes to the caller, who undoes the whole transaction
                handled = self._turns(session, messages, now, within, together=True, people=people)
            elif attempt == _PAGE_SAVEPOINT and people is not None:
                try:
                    with session.begin_nested():
                        handled = self._turns(session, messages, now, within, together=True, people=people)
                except Exception:
                    logger.info("a turn in a page of %d failed; taking them one by one", len(inbounds))
                    session.info.pop(QUEUED, None)
                    session.info.pop(OTHERS_QUEUED, None)
            if handled is None:
                handled = self._turns(
                    session, messages, now, within, together=False, alone_raises=alone_raises, people=people
                )
        session.info.pop(WRITERS, None)
        queued = session.info.pop(QUEUED, [])
        handled.handed = self._hand_over(session, queued, now)
        handled.others_queued = session.info.pop(OTHERS_QUEUED, False) or len(handled.handed) < len(queued)
        return handled

    def _turns(
        self,
        session: Session,
        messages: list[tuple[Inbound, Inbound | None]],
        now: datetime,
        within: float | None,
        *,
        together: bool,
        alone_raises: bool = False,
        people: PageConversations | None = None,
    ) -> Handled:
        """The turns in order until `within` is up.

        `together`: no savepoint each, and any failure goes to the caller, undoing them all. Otherwise
        each turn has a savepoint of its own (`_turn`), and a failure undoes only that message.
        """
        handled = Handled()
        started = time.monotonic()
        if people is not None:
            people.restart(together=together)
        for inbound, usable in messages:
            if within is not None and handled.results and time.monotonic() - started > within:
                break
            if usable is None:
                logger.warning("%s message with an unusable sender or id ignored", inbound.channel)
                handled.results.append(False)
            elif together:
                handled.results.append(self._step(session, usable, now, people=people))
            elif alone_raises and len(messages) == 1:  # a failure undoes the whole transaction anyway
                handled.results.append(self._turn(session, usable, now, people))
            else:
                try:
                    handled.results.append(self._turn(session, usable, now, people))
                except Exception as error:
                    logger.exception("%s message not handled; it will come again", inbound.channel)
                    handled.failure = error
                    break
            if people is not None and handled.results[-1]:
                people.recorded[(usable.channel, usable.address)] += 1
        if together and people is not None:
            people.write(session, now)
        return handled

    def committed(self, handled: Handled) -> None:
        """After the commit: the replies handed over go out, and the dispatcher looks for the rest."""
        if handled.handed:
            self.handoff.take(handled.handed)  # type: ignore[union-attr]
        if handled.others_queued:
            self.notify()

    def _turn(
        self, session: Session, inbound: Inbound, now: datetime, people: PageConversations | None = None
    ) -> bool:
        """One message in a savepoint: its conversation's next step, and the replies queued.

        When the step itself breaks, all of it is undone and the message is taken again, the person told
        and asked the same question; the draft stays as it was. Any other failure goes to the caller.
        """
        try:
            with session.begin_nested():
                return self._step(session, inbound, now, people=people)
        except _StepFailed as failed:
            logger.exception("%s turn failed in flow %s step %s", inbound.channel, *failed.args)
        with session.begin_nested():
            return self._step(session, inbound, now, failed=True, people=people)

    def _step(
        self,
        session: Session,
        inbound: Inbound,
        now: datetime,
        *,
        failed: bool = False,
        people: PageConversations | None = None,
    ) -> bool:
        """The turn itself; `failed` when its step broke a moment ago, and the person is to hear so."""
        if people is not None:
            conversation, earlier = people.of(session, inbound, now)
        else:
            conversation, earlier = conversation_for(session, inbound.channel, inbound.address, now)
        if not record_inbound(session, conversation, inbound, now, people):
            logger.info("%s message redelivered; already handled", inbound.channel)
            return False
        if self._flooded(session, conversation, inbound, now, sent=earlier + 1):
            return True
        was_reporting = conversation.flow == report.FLOW.name
        turn = Turn(
            session,
            conversation,
            inbound,
            now,
            state=dict(conversation.state or {}),
            policy=self.policy,
            page_contacts=people.contacts if people is not None else None,
        )
        reminded = turn.state.pop(drafts.REMINDED, None)
        if failed:
            turn.say("common.error")
            reask(turn)
        else:
            if turn.state.pop(drafts.EXPIRED, None):
                turn.hint("report.draft.expired")  # told once, the first time they write after
            where = (conversation.flow, conversation.step)
            try:
                route(turn)
            except Exception as error:
                raise _StepFailed(*where) from error
        keep(turn)
        if conversation.flow == report.FLOW.name:
            if reminded or not was_reporting:
                if people is not None:
                    people.draft_begins(session, conversation, now)
                drafts.watch(
                    session,
                    conversation,
                    now=now,
                    remind_after=self.policy.draft_reminder,
                    fresh=people is not None and people.first_contact(inbound),
                )
        elif was_reporting and people is not None:
            people.draft_finished(session, conversation, now)
        elif was_reporting:
            drafts.forget(session, conversation, now=now)
        if turn.replies and self.handoff is None:  # with a handoff, `_hand_over` sees to it
            hurry(session, channel=inbound.channel, address=inbound.address, priority=REPLY)
        for reply in turn.replies:
            enqueue(session, channel=inbound.channel, address=inbound.address, reply=reply, now=now)
        return True

    def _hand_over(
        self,
        session: Session,
        queued: list[OutboxMessage],
        now: datetime,
    ) -> list[object]:
        """The writers' replies, marked as being sent, for this process's dispatcher to send at once.

        Only when nothing older waits for that person, or only what that dispatcher is sending now (they
        follow it), so their messages keep their order; if this process dies before sending, the lease
        runs out and any dispatcher takes them as usual.
        """
        if self.handoff is None or not queued:
            return []
        mine: dict[tuple[str, str], list[OutboxMessage]] = {}
        for message in queued:
            if message in session:  # not one from a turn whose savepoint was rolled back
                mine.setdefault((message.channel, message.address), []).append(message)
        handed: list[OutboxMessage] = []
        # Before the flush: the replies not written yet are not in the table, and those written are
        # left out by id; handed over, they are inserted as being sent, without an update after.
        with session.no_autoflush:
            open_before = still_open(session, mine)
            for (channel, address), messages in mine.items():
                before = open_before.get((channel, address))
                earlier = before.ids if before else []
                if before and before.behind_replies:  # their older messages go with the reply, not
                    hurry(session, channel=channel, address=address, priority=REPLY)  # behind a fan-out
                if earlier:
                    for message in messages:
                        message.priority = min(message.priority, REPLY)
                if (
                    not self.handoff.accepts(channel)
                    or any(m.document_id is not None for m in messages)
                    or (earlier and not self.handoff.sending_now(earlier))
                ):
                    continue  # waiting elsewhere: the claim keeps the order
                for message in messages:
                    message.status = SENDING
                    message.attempts = 1
                    message.lease_until = now + self.handoff.lease
                handed.extend(messages)
        session.flush()
        return [self.handoff.prepare(message) for message in sorted(handed, key=lambda m: m.id)]

    def _flooded(
        self, session: Session, conversation: Conversation, inbound: Inbound, now: datetime, *, sent: int
    ) -> bool:
        """Over SENDER_MESSAGES_PER_MINUTE the message is not read; the first one over hears so, politely.

        `sent`: their messages in the last minute, this one included.
        """
        limit = self.policy.sender_messages_per_minute
        if limit <= 0 or sent <= limit:
            return False
        if sent == limit + 1:
            logger.warning("%s sender over %d messages a minute; not read for now", inbound.channel, limit)
            notice = Reply(text(conversation.language, "limits.messages"))
            enqueue(session, channel=inbound.channel, address=inbound.address, reply=notice, now=now)
        return True


def keep(turn: Turn) -> None:
    """The turn's state onto the conversation, with when the person last wrote."""
    conversation = turn.conversation
    conversation.state = dict(turn.state)
    conversation.last_inbound_at = turn.now
    conversation.updated_at = turn.now


def returning(turn: Turn) -> bool:
    """Someone back after a break with "lanjut" or "halo": to be reminded where they were."""
    last = turn.conversation.last_inbound_at
    if last is None or turn.now - last < RESUME_AFTER or turn.inbound.text is None:
        return False
    return lexicon.flat(lexicon.without_fillers(lexicon.plain(turn.inbound.text))) in lexicon.answers(
        "resume"
    )


def reask(turn: Turn) -> None:
    """Ask the current question again, or show the menu when no flow is under way."""
    flow_name, step = turn.conversation.flow, turn.conversation.step
    if flow_name and step and flow_name in FLOWS and step in FLOWS[flow_name].steps:
        FLOWS[flow_name].step(step).ask(turn)
    else:
        turn.say("menu.prompt", citizens.menu_choices(turn))


def pressed_command(choice: str | None) -> Command | None:
    """A button that stands for a command: the menu's, or one such as "Perbarui LPR-7K3QX"."""
    if not choice:
        return None
    if choice.startswith("menu:"):
        return Command(citizens.menu_command(choice) or "unknown", "", True)
    if choice.startswith("cmd:"):
        name, _, argument = choice[len("cmd:") :].partition(":")
        return Command(name, argument, True)
    return None


def route(turn: Turn) -> None:
    """Decide what the message is: a command, an answer to the current question, or something to explain."""
    conversation = turn.conversation
    in_flow = conversation.flow in FLOWS and conversation.step is not None
    if acknowledgement.handle(turn):
        return
    if checkins.handle(turn):
        if in_flow and conversation.flow != checkins.CHECKIN_FLOW.name:
            reask(turn)  # a check-in button pressed in the middle of something else
        return
    command = pressed_command(turn.inbound.choice)
    written = turn.inbound.text or ""
    words = written.split()  # none in a message of only spaces or line breaks
    if command is None and not in_flow and words and not words[0].startswith("/"):
        # "tindak LPR-7K3QX ada bentrok" is a command with words after it, not a story.
        told = (
            None
            if table.WORDS.get(lexicon.flat(words[0])) in table.ARGUMENT_TAKERS
            else story.read_story(written)
        )
        if told is not None:  # a whole story outside any flow is a report, whatever word it starts with
            if told.pop("written_in") == "en":
                answer_in_english(turn)
            report.start_from_story(turn, told)
            return
    offer_english(turn)
    if command is None and turn.inbound.text:
        command = table.parse_command(turn.inbound.text, in_flow=in_flow)
    if in_flow:
        if command is None and returning(turn):
            turn.hint("common.resume")  # "lanjut" after a break is not an answer to the question
            reask(turn)
        elif command is None:
            if conversation.flow == report.FLOW.name and report.take_media_elsewhere(turn):
                reask(turn)
            else:
                answer(turn, FLOWS[conversation.flow])  # type: ignore[index]
        elif command.name == "cancel":
            cancelled = (
                "common.cancelled" if conversation.flow == report.FLOW.name else "common.cancelled_other"
            )
            end_flow(turn)
            turn.say(cancelled, citizens.menu_choices(turn))
        elif command.name == "help":
            flow = FLOWS[conversation.flow]  # type: ignore[index]
            turn.hint(flow.step(conversation.step).help_key)  # type: ignore[arg-type]
            reask(turn)
        elif command.name == "language" and citizens.language_from_argument(command.argument):
            # "/bahasa en" mid-report: switch, then the same question again in the new language.
            citizens.set_language(turn, citizens.language_from_argument(command.argument))  # type: ignore[arg-type]
            reask(turn)
        else:
            turn.hint("common.finish_first")
            reask(turn)
        return
    if command is None and turn.inbound.text:
        picked = turn.chosen(citizens.menu_choices(turn))
        command = pressed_command(picked.key) if picked else None
    if command is None and find_code(turn.inbound.text or ""):
        command = Command("status", turn.inbound.text or "", False)  # a code alone asks for its status
    if command is None and turn.inbound.media is not None:
        report.start_with_media(turn)  # a photo or a voice note is the start of a report
        return
    if command is None:
        turn.say("menu.prompt", citizens.menu_choices(turn))
        return
    table.run_command(turn, command)


def answer(turn: Turn, flow: Flow) -> None:
    """Give the answer to the current step and move to whatever comes next."""
    conversation = turn.conversation
    current = conversation.step or flow.first
    wanted = flow.step(current).answer(turn)
    if wanted is STAY:
        flow.step(current).ask(turn)
        return
    if wanted == CANCEL:
        end_flow(turn)
        turn.say("common.cancelled", citizens.menu_choices(turn))
        return
    if wanted == END:
        end_flow(turn)
        return
    if wanted == FINISH:
        flow.finish(turn)
        if turn.conversation.flow == flow.name:  # a finish may start the next flow: a Rawan check-in's report
            end_flow(turn)
        return
    following = flow.next_of(turn.state, current, wanted)
    if following == flow.summary:
        turn.state.pop("fixing", None)
    conversation.step = following
    flow.step(following).ask(turn)


def answer_in_english(turn: Turn) -> None:
    """A story written in English is answered in English, unless the person chose a language before."""
    conversation = turn.conversation
    conversation.language_checked = True
    if not conversation.language_chosen and conversation.language != "en":
        conversation.language = "en"
        turn.hint("language.switched_to_english")


def offer_english(turn: Turn) -> None:
    """On a person's first free text, offer English if that is what they write."""
    conversation = turn.conversation
    written = (turn.inbound.text or "").strip()
    if (
        conversation.language_checked
        or conversation.language_chosen
        or not written
        or written.startswith("/")
    ):
        return
    if len(written.split()) < language.MIN_WORDS:
        return
    conversation.language_checked = True
    if language.detect(written) == "en" and conversation.language != "en":
        turn.send(text("en", "language.offer"))
