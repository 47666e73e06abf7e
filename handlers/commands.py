"""Commands anyone can send: /start, /bantuan, /lapor, /status, /bahasa, /batal; and words that mean them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import select

from handlers import lexicon
from handlers.alerts import incidents
from handlers.codes import find_code, normalise_code
from handlers.conversation import FINISH, STAY, Flow, Step, Turn, choices_of, value_of
from handlers.localtime import local_time
from handlers.matching import normalise
from handlers.messages import Choice
from models.tables import RECEIVED, Incident, Report

# Command -> the words that call it, with or without a slash. The first is the one shown to people.
COMMANDS: dict[str, tuple[str, ...]] = {
    "start": ("start", "mulai", "menu", "halo", "hai", "hi", "hello", "assalamualaikum", "selamat"),
    "report": ("lapor", "laporan", "melapor", "lapor kejadian", "report"),
    "status": ("status", "cek", "cek status", "cek laporan"),
    "help": ("bantuan", "bantu", "tolong", "help", "info"),
    "language": ("bahasa", "language", "ganti bahasa"),
    "cancel": ("batal", "batalkan", "cancel", "stop", "berhenti"),
}
# Words that still act as commands in the middle of a flow, when they are the whole message.
MID_FLOW_WORDS = {"cancel": ("batal", "batalkan", "cancel"), "help": ("bantuan", "help")}


@dataclass(frozen=True, slots=True)
class Command:
    """A command someone sent: which one, what followed it, and whether it had a slash."""

    name: str
    argument: str
    slash: bool


def _lookup(word: str) -> str | None:
    for name, words in COMMANDS.items():
        if word in words:
            return name
    return None


def parse_command(text: str, *, in_flow: bool) -> Command | None:
    """Find the command in a message: '/lapor', '/status@bot LPR-7K3QX', 'Lapor', or 'lpor' with a typo."""
    stripped = text.strip()
    if stripped.startswith("/"):
        head, _, argument = stripped[1:].partition(" ")
        word = normalise(head.split("@", 1)[0])
        return Command(_lookup(word) or "unknown", argument.strip(), True)
    whole = normalise(stripped)
    if in_flow:
        for name, words in MID_FLOW_WORDS.items():
            if whole in words:
                return Command(name, "", False)
        return None
    if not whole:
        return None
    name = _lookup(whole) or _lookup(lexicon.without_fillers(lexicon.plain(stripped)))
    if name:
        return Command(name, "", False)  # "lapor", and "saya mau lapor pak" too
    head, _, argument = stripped.partition(" ")
    word = normalise(head)
    name = _lookup(word)
    if name is None and len(whole.split()) <= 3:
        close = difflib.get_close_matches(word, [w for ws in COMMANDS.values() for w in ws], n=1, cutoff=0.8)
        name = _lookup(close[0]) if close else None
    return Command(name, argument.strip(), False) if name else None


def menu_choices(turn: Turn) -> list[Choice]:
    """The main menu under a greeting or a reply to something the bot did not understand."""
    return choices_of(turn, "menu", ("report", "status", "help", "language"), "menu")


def menu_command(choice_key: str) -> Command | None:
    """A menu button press, as the command it stands for."""
    if choice_key.startswith("menu:"):
        return Command(choice_key.split(":", 1)[1], "", True)
    return None


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
