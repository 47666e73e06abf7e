"""Asking pioneers how their area is: on CHECKIN_SCHEDULE, with /checkin, or a coordinator's /cekwilayah.

A pioneer answers Aman, Waspada or Rawan and may add a note. Rawan tells the region's coordinators at
once and offers the pioneer a report with their region filled in. A question left unanswered gets one
reminder after CHECKIN_REMINDER_HOURS; still unanswered after as long again, the pioneer is marked as
missed, and an area whose pioneers have all gone silent is told to the coordinators.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from config.catalog import text
from handlers import report
from handlers.alerts.delivery import Template, language_of, languages_of, to_contact
from handlers.alerts.policy import Policy
from handlers.alerts.routing import by_chunk, coordinators_for
from handlers.commands.arguments import coordinators_region, region_of
from handlers.conversation import END, FINISH, STAY, Flow, Step, Turn, choices_of, start_flow, value_of
from handlers.matching import pick
from handlers.messages import Choice, Reply
from handlers.outbox import ALERT, BULK
from models.tables import AMAN, MISSED, PELOPOR, RAWAN, WASPADA_AREA, Checkin, Contact, Timer

if TYPE_CHECKING:
    from handlers.commands.command import Command

logger = logging.getLogger(__name__)

ANSWERS = (AMAN, WASPADA_AREA, RAWAN)
REMIND = "checkin_remind"
MISS = "checkin_miss"
KINDS = (REMIND, MISS)
MAX_NOTE = 1000


def answer_choices(language: str) -> list[Choice]:
    """1 Aman, 2 Waspada, 3 Rawan."""
    return [Choice(f"checkin:{a}", text(language, f"checkin.answer.{a}")) for a in ANSWERS]


def open_checkin(session: Session, contact: Contact) -> Checkin | None:
    """The contact's newest question still waiting for an answer."""
    return session.scalars(
        select(Checkin)
        .where(Checkin.contact_id == contact.id, Checkin.answered_at.is_(None), Checkin.answer.is_(None))
        .order_by(Checkin.id.desc())
        .limit(1)
    ).first()


def ask(
    session: Session, contact: Contact, *, now: datetime, policy: Policy, asked_by: Contact | None = None
) -> Checkin:
    """Ask one pioneer how their area is, at bulk priority; a question still waiting is asked again."""
    return _ask_all(session, [contact], now=now, policy=policy, asked_by=asked_by)[0]


def _ask_all(
    session: Session, pioneers: list[Contact], *, now: datetime, policy: Policy, asked_by: Contact | None
) -> list[Checkin]:
    """Ask many at once: a few queries for all of them, so a round of thousands holds the database briefly."""
    ids = [p.id for p in pioneers]
    waiting: dict[int, Checkin] = {}
    for start in range(0, len(ids), 500):
        for checkin in session.scalars(
            select(Checkin)
            .where(
                Checkin.contact_id.in_(ids[start : start + 500]),
                Checkin.answered_at.is_(None),
                Checkin.answer.is_(None),
            )
            .order_by(Checkin.id)
        ):
            waiting[checkin.contact_id] = checkin
    fresh = [
        Checkin(
            contact_id=p.id,
            region_code=p.region_code,
            asked_by=asked_by.id if asked_by else None,
            asked_at=now,
        )
        for p in pioneers
        if p.id not in waiting
    ]
    session.add_all(fresh)
    session.flush()
    languages = languages_of(session, pioneers)
    with session.no_autoflush:
        for checkin in fresh:
            _wait_for_answer(session, REMIND, checkin, now=now, policy=policy)
            waiting[checkin.contact_id] = checkin
        for pioneer in pioneers:
            _send_question(
                session,
                pioneer,
                "checkin.ask",
                now=now,
                policy=policy,
                language=languages.get(pioneer.id, "id"),
            )
    return [waiting[p.id] for p in pioneers]


def _wait_for_answer(session: Session, kind: str, checkin: Checkin, *, now: datetime, policy: Policy) -> None:
    """What happens if no answer comes within CHECKIN_REMINDER_HOURS: a reminder, then missed."""
    due = now + timedelta(hours=policy.checkin_reminder_hours)
    session.add(Timer(kind=kind, checkin_id=checkin.id, due_at=due, created_at=now))


def _send_question(
    session: Session,
    contact: Contact,
    key: str,
    *,
    now: datetime,
    policy: Policy,
    language: str | None = None,
) -> None:
    language = language or language_of(session, contact)
    place = region_of(contact.region_code)
    template = Template(
        policy.checkin_template if key == "checkin.ask" else policy.reminder_template,
        "TWILIO_TEMPLATE_CHECKIN" if key == "checkin.ask" else "TWILIO_TEMPLATE_REMINDER",
        {"1": contact.name, "2": place},
    )
    to_contact(
        session,
        contact,
        Reply(text(language, key, name=contact.name, place=place), tuple(answer_choices(language))),
        now=now,
        policy=policy,
        purpose="checkin",
        priority=BULK,
        template=template,
    )


def _active_pioneers(region_code: str) -> Select[tuple[Contact]]:
    """Active pioneers whose region is this one or inside it; everywhere for ""."""
    query = select(Contact).where(Contact.active.is_(True), Contact.role == PELOPOR)
    if region_code:
        query = query.where(
            or_(Contact.region_code == region_code, Contact.region_code.like(f"{region_code}.%"))
        )
    return query


def ask_everyone(
    session: Session, region_code: str, *, now: datetime, policy: Policy, asked_by: Contact | None = None
) -> int:
    """A round: every active pioneer in the region (everywhere, for "") is asked; how many.

    A chunk at a time, written before the next is read: a province's 100,000 pioneers with their
    questions, timers and messages held in memory at once took 400 MB (bench/memory.py).
    """
    asked = 0
    for pioneers in by_chunk(session, _active_pioneers(region_code)):
        _ask_all(session, pioneers, now=now, policy=policy, asked_by=asked_by)
        session.flush()
        asked += len(pioneers)
    logger.info("check-in round: %d pioneers asked", asked)
    return asked


# The pioneer's answer ---------------------------------------------------------------------------------------


def handle(turn: Turn) -> bool:
    """Take a check-in answer sent outside a flow, or a check-in button pressed anywhere; False otherwise."""
    pressed = turn.inbound.choice if (turn.inbound.choice or "").startswith("checkin:") else None
    if pressed is None and (turn.conversation.flow is not None or not turn.answer_text):
        return False  # checked first: most messages are answers in a flow, and need no contact lookup
    contact = turn.contact
    if contact is None or contact.role != PELOPOR:
        return False
    checkin = open_checkin(turn.session, contact)
    if checkin is None:
        return False
    choice = next((c for c in answer_choices(turn.language) if c.key == pressed), None) if pressed else None
    with_note = False
    if choice is None and pressed is None:
        choice = pick(turn.answer_text, answer_choices(turn.language))
        if choice is None and len(turn.answer_text.split()) > 1:
            # "Aman pak, semua kondusif": the answer first, a note after it.
            choice = pick(turn.answer_text.split()[0].strip(".,!"), answer_choices(turn.language))
            with_note = choice is not None
    if choice is None:
        return False
    in_other_flow = turn.conversation.flow is not None
    record(turn, checkin, value_of(choice))
    if in_other_flow:
        turn.hint("checkin.noted", answer=choice.label)
        return True  # the engine asks the question under way again
    turn.conversation.flow, turn.conversation.step = CHECKIN_FLOW.name, "note"
    turn.state = {"checkin": checkin.id}
    if with_note:
        following = take_note(turn)
        if following == END:
            turn.conversation.flow = turn.conversation.step = None
            turn.state = {}
        else:
            turn.conversation.step = following
            CHECKIN_FLOW.step(following).ask(turn)  # type: ignore[arg-type]
        return True
    CHECKIN_FLOW.step("note").ask(turn)
    return True


def record(turn: Turn, checkin: Checkin, answer: str) -> None:
    """Store the answer; Rawan reaches the region's coordinators at once."""
    checkin.answer, checkin.answered_at = answer, turn.now
    turn.session.execute(
        update(Timer)
        .where(Timer.checkin_id == checkin.id, Timer.fired_at.is_(None))
        .values(fired_at=turn.now)
    )
    if answer == RAWAN and turn.contact is not None:
        _tell_coordinators(
            turn.session, turn.contact, "checkin.rawan_alert", now=turn.now, policy=turn.policy
        )
    logger.info("check-in %s answered: %s", checkin.id, answer)


def _tell_coordinators(
    session: Session, contact: Contact, key: str, *, now: datetime, policy: Policy, note: str = ""
) -> int:
    told = 0
    for coordinator in coordinators_for(session, contact.region_code):
        language = language_of(session, coordinator)
        body = text(language, key, name=contact.name, place=region_of(contact.region_code), note=note)
        to_contact(
            session, coordinator, Reply(body), now=now, policy=policy, purpose="checkin", priority=ALERT
        )
        told += 1
    return told


def run_checkin(turn: Turn, command: Command) -> None:
    """A pioneer checks in whenever they want."""
    contact = turn.contact
    assert contact is not None
    checkin = open_checkin(turn.session, contact) or Checkin(
        contact_id=contact.id, region_code=contact.region_code, asked_at=turn.now
    )
    turn.session.add(checkin)
    turn.session.flush()
    start_flow(turn, CHECKIN_FLOW, {"checkin": checkin.id})


def ask_answer(turn: Turn) -> None:
    """How is your area?"""
    contact = turn.contact
    name, place = (contact.name, region_of(contact.region_code)) if contact else ("", "")
    turn.say("checkin.ask", answer_choices(turn.language), name=name, place=place)


def take_answer(turn: Turn) -> str | None:
    """Aman, Waspada or Rawan."""
    choice = turn.chosen(answer_choices(turn.language))
    checkin = turn.session.get(Checkin, turn.state.get("checkin"))
    if choice is None or checkin is None:
        turn.hint("common.pick_option")
        return STAY
    record(turn, checkin, value_of(choice))
    return "note"


def _no_note(turn: Turn) -> list[Choice]:
    return [Choice("note:none", turn.t("checkin.no_note"))]


def ask_note(turn: Turn) -> None:
    """Anything to add?"""
    checkin = turn.session.get(Checkin, turn.state.get("checkin"))
    answer = turn.t(f"checkin.answer.{checkin.answer}") if checkin and checkin.answer else "-"
    turn.say("checkin.ask_note", _no_note(turn), answer=answer)


def take_note(turn: Turn) -> str | None:
    """Keeps the note; Rawan then offers a report."""
    checkin = turn.session.get(Checkin, turn.state.get("checkin"))
    if checkin is None:
        return END
    none = turn.chosen(_no_note(turn), {"note:none": report.NONE_WORDS + report.SKIP_WORDS})
    if none is None:
        if not turn.answer_text:
            turn.hint("common.need_text")
            return STAY
        checkin.note = turn.answer_text[:MAX_NOTE]
        if checkin.answer == RAWAN and turn.contact is not None:
            _tell_coordinators(
                turn.session,
                turn.contact,
                "checkin.rawan_note",
                now=turn.now,
                policy=turn.policy,
                note=checkin.note,
            )
    turn.hint("checkin.thanks")
    return "offer" if checkin.answer == RAWAN else END


def _offer_choices(turn: Turn) -> list[Choice]:
    return choices_of(turn, "offer", ("now", "later"), "checkin.offer")


def ask_offer(turn: Turn) -> None:
    """Rawan: a report now, with the region already filled in?"""
    turn.say("checkin.offer.ask", _offer_choices(turn))


def take_offer(turn: Turn) -> str | None:
    """Now starts the report at its first question, the place already known."""
    choice = turn.chosen(_offer_choices(turn))
    if choice is None:
        turn.hint("common.pick_option")
        return STAY
    if value_of(choice) == "later":
        turn.hint("checkin.offer.later_reply")
        return END
    return FINISH


def finish_checkin(turn: Turn) -> None:
    """The report of a Rawan area, with the pioneer's region as its place."""
    contact = turn.contact
    region = contact.region_code if contact else ""
    start_flow(
        turn, report.FLOW, {"region_code": region, "place_path": region_of(region), "place_given": True}
    )


CHECKIN_FLOW = Flow(
    name="checkin",
    first="answer",
    finish=finish_checkin,
    steps={
        "answer": Step("answer", ask_answer, take_answer, "checkin.help"),
        "note": Step("note", ask_note, take_note, "checkin.help"),
        "offer": Step("offer", ask_offer, take_offer, "checkin.help"),
    },
)


# /cekwilayah WILAYAH ----------------------------------------------------------------------------------------


def run_check_area(turn: Turn, command: Command) -> None:
    """A coordinator asks every pioneer in a region of theirs to check in now."""
    region = coordinators_region(turn, command.argument)
    if region is not None:
        asked = ask_everyone(
            turn.session, region.code, now=turn.now, policy=turn.policy, asked_by=turn.contact
        )
        turn.hint("checkin.round_started", count=asked, place=region.path)


# Reminders and silence --------------------------------------------------------------------------------------


def fire(session: Session, timer: Timer, *, now: datetime, policy: Policy) -> None:
    """Remind once; then mark as missed, and tell the coordinators when a whole area has gone silent."""
    checkin = session.get(Checkin, timer.checkin_id)
    if checkin is None or checkin.answer is not None:
        return
    contact = session.get(Contact, checkin.contact_id)
    if contact is None or not contact.active:
        return
    if timer.kind == REMIND:
        checkin.reminded_at = now
        _send_question(session, contact, "checkin.reminder", now=now, policy=policy)
        _wait_for_answer(session, MISS, checkin, now=now, policy=policy)
        return
    checkin.answer = MISSED
    logger.info("check-in %s missed", checkin.id)
    if _area_silent(session, contact.region_code):
        _tell_coordinators(session, contact, "checkin.silent_area", now=now, policy=policy)


def _area_silent(session: Session, region_code: str) -> bool:
    """Whether every active pioneer of this region missed their newest question."""
    pioneers = session.scalars(
        select(Contact.id)
        .where(Contact.active.is_(True), Contact.role == PELOPOR, Contact.region_code == region_code)
        .order_by(Contact.id)
    ).all()
    for pioneer_id in pioneers:
        newest = session.scalars(
            select(Checkin.answer)
            .where(Checkin.contact_id == pioneer_id)
            .order_by(Checkin.id.desc())
            .limit(1)
        ).first()
        if newest != MISSED:
            return False
    return bool(pioneers)
