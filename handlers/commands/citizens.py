"""What anyone may ask for, citizen or contact: the menu, /lapor, /status, /bahasa, /batal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from handlers import report
from handlers.alerts import incidents
from handlers.codes import find_code, normalise_code
from handlers.conversation import FINISH, STAY, Flow, Step, Turn, choices_of, start_flow, value_of
from handlers.localtime import local_time
from handlers.matching import normalise
from handlers.messages import Choice
from models.tables import RECEIVED, Incident, Report

if TYPE_CHECKING:
    from handlers.commands.command import Command


def menu_choices(turn: Turn) -> list[Choice]:
    """The main menu under a greeting or a reply to something the bot did not understand."""
    return choices_of(turn, "menu", ("report", "status", "help", "language"), "menu")


def menu_command(choice_key: str) -> str | None:
    """A menu button press, as the name of the command it stands for."""
    return choice_key.split(":", 1)[1] if choice_key.startswith("menu:") else None


def run_start(turn: Turn, command: Command) -> None:
    """A greeting: the welcome and the menu."""
    turn.say("start.welcome", menu_choices(turn))


def run_report(turn: Turn, command: Command) -> None:
    """Begin a report from its first question."""
    start_flow(turn, report.FLOW)


def run_status(turn: Turn, command: Command) -> None:
    """The status of the code given, or a question asking for it."""
    found = status_text(turn, command.argument) if command.argument else None
    if found is not None:
        turn.send(found)
        return
    if command.argument:
        turn.hint("status.bad_code")
    start_flow(turn, STATUS_FLOW)


def run_language(turn: Turn, command: Command) -> None:
    """'/bahasa en' switches at once; '/bahasa' alone offers the languages."""
    chosen = language_from_argument(command.argument)
    if chosen is not None:
        set_language(turn, chosen)
    else:
        start_flow(turn, LANGUAGE_FLOW)


def run_cancel(turn: Turn, command: Command) -> None:
    """/batal outside any flow: nothing to cancel, said plainly."""
    turn.say("common.nothing_to_cancel", menu_choices(turn))


# /status ---------------------------------------------------------------------------------------------------


def status_text(turn: Turn, raw_code: str) -> str | None:
    """The public status of a report: its state and when it last changed, nothing about who or where."""
    code = normalise_code(raw_code) or find_code(raw_code)
    if code is None:
        return None
    report = turn.session.scalar(select(Report).where(Report.code == code))
    if report is None:
        return turn.t("status.not_found", code=code)
    status = report.status
    if status == RECEIVED and not _reached_anyone(turn, report):
        status = "received_unrouted"  # never "being passed to officers" when nobody can be reached
    return turn.t(
        "status.found",
        code=report.code,
        status=turn.t(f"report_status.{status}"),
        since=local_time(report.status_changed_at, report.region_code),
    )


def _reached_anyone(turn: Turn, report: Report) -> bool:
    incident = turn.session.get(Incident, report.incident_id) if report.incident_id else None
    return incident is not None and incidents.alerted_count(turn.session, incident) > 0


def ask_status_code(turn: Turn) -> None:
    """Asks for the report code."""
    turn.say("status.ask")


def take_status_code(turn: Turn) -> str | None:
    """Shows the status of the code given, or asks again if it does not look like a code."""
    found = status_text(turn, turn.answer_text)
    if found is None:
        turn.hint("status.bad_code")
        return STAY
    turn.send(found)
    return FINISH


STATUS_FLOW = Flow(
    name="status",
    first="code",
    finish=lambda turn: None,
    steps={"code": Step("code", ask_status_code, take_status_code, "status.help")},
)


# /bahasa ---------------------------------------------------------------------------------------------------


def _language_choices(turn: Turn) -> list[Choice]:
    return choices_of(turn, "lang", ("id", "en"), "language.name")


def ask_language(turn: Turn) -> None:
    """Offers Indonesian or English."""
    turn.say("language.ask", _language_choices(turn))


def set_language(turn: Turn, language: str) -> None:
    """Stores the person's language and confirms it in that language."""
    turn.conversation.language = language
    turn.conversation.language_chosen = True
    turn.say("language.set")


def take_language(turn: Turn) -> str | None:
    """Switches to the language chosen."""
    choice = turn.chosen(
        _language_choices(turn), {"lang:id": ("indonesia", "id", "indo"), "lang:en": ("en",)}
    )
    if choice is None:
        turn.hint("common.pick_option")
        return STAY
    set_language(turn, value_of(choice))
    return FINISH


LANGUAGE_FLOW = Flow(
    name="language",
    first="choose",
    finish=lambda turn: None,
    steps={"choose": Step("choose", ask_language, take_language, "language.help")},
)


def language_from_argument(argument: str) -> str | None:
    """'/bahasa en' or '/bahasa inggris' picks a language at once."""
    word = normalise(argument)
    if word in ("en", "english", "inggris", "bahasa inggris"):
        return "en"
    if word in ("id", "indonesia", "bahasa indonesia", "indonesian"):
        return "id"
    return None
