"""Every command in one table: its words in each language, who may use it, and what carries it out.

The engine finds a command here, checks the sender's role, and runs it. A command the sender may not use
gets the same answer as one that does not exist, so nobody learns what others can do. `/bantuan` lists
only the rows the sender may use, in their language. On WhatsApp and in the console the same words work
without the slash: "DAFTAR KODE", "tindak LPR-7K3QX".
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from handlers import acknowledgement, lexicon, privacy
from handlers.commands import citizens
from handlers.commands.command import Command
from handlers.conversation import Turn
from handlers.coordinators import broadcast, exports, reports, roster, summary
from handlers.matching import normalise
from handlers.pioneers import checkins, invitations, tasks
from models.tables import FKDM, KOORDINATOR, PELOPOR, AuditEntry

CITIZEN = "warga"  # anyone writing who is not an active contact
ANYONE = frozenset({CITIZEN, PELOPOR, FKDM, KOORDINATOR})
CONTACTS = frozenset({PELOPOR, FKDM, KOORDINATOR})
COORDINATORS = frozenset({KOORDINATOR})


@dataclass(frozen=True)
class Row:
    """One command: its name, the words that call it per language (the first is shown), who may use it."""

    name: str
    words: Mapping[str, tuple[str, ...]]
    roles: frozenset[str]
    run: Callable[[Turn, Command], None]
    # Listed by /bantuan (catalog key help.line.<name>); greetings are not.
    listed: bool = True


ROWS: tuple[Row, ...] = (
    Row(
        "start",
        {
            "id": ("start", "mulai", "menu", "halo", "hai", "assalamualaikum", "selamat"),
            "en": ("hi", "hello", "menu"),
        },
        ANYONE,
        citizens.run_start,
        listed=False,
    ),
    Row(
        "report",
        {"id": ("lapor", "laporan", "melapor", "lapor kejadian"), "en": ("report",)},
        ANYONE,
        citizens.run_report,
    ),
    Row(
        "status",
        {"id": ("status", "cek", "cek status", "cek laporan"), "en": ("check",)},
        ANYONE,
        citizens.run_status,
    ),
    Row("language", {"id": ("bahasa", "ganti bahasa"), "en": ("language",)}, ANYONE, citizens.run_language),
    Row(
        "cancel",
        {"id": ("batal", "batalkan", "stop", "berhenti"), "en": ("cancel",)},
        ANYONE,
        citizens.run_cancel,
    ),
    Row(
        "my_data",
        {"id": ("dataku", "data saya", "lihat data saya"), "en": ("mydata", "my data")},
        ANYONE,
        privacy.run_my_data,
    ),
    Row(
        "erase",
        {"id": ("hapusdata", "hapus data", "hapus data saya"), "en": ("deletedata", "delete my data")},
        ANYONE,
        privacy.run_erase,
    ),
    Row("join", {"id": ("daftar", "gabung"), "en": ("join", "register")}, ANYONE, invitations.run_join),
    Row(
        "checkin",
        {"id": ("checkin", "cekin", "check in"), "en": ("check-in",)},
        frozenset({PELOPOR}),
        checkins.run_checkin,
    ),
    Row("ack", {"id": ("tangani", "saya tangani"), "en": ("take",)}, CONTACTS, acknowledgement.run),
    Row("tasks", {"id": ("tugas", "tugas saya"), "en": ("tasks",)}, CONTACTS, tasks.run_tasks),
    Row("act", {"id": ("tindak", "tindak lanjut"), "en": ("act", "update")}, CONTACTS, tasks.run_act),
    Row("link", {"id": ("hubungkan",), "en": ("link",)}, CONTACTS, invitations.run_link),
    Row("leave", {"id": ("keluar",), "en": ("leave",)}, CONTACTS, invitations.run_leave),
    Row("invite", {"id": ("undang",), "en": ("invite",)}, COORDINATORS, invitations.run_invite),
    Row(
        "check_area",
        {"id": ("cekwilayah", "cek wilayah"), "en": ("checkarea",)},
        COORDINATORS,
        checkins.run_check_area,
    ),
    Row(
        "deactivate",
        {"id": ("nonaktifkan",), "en": ("deactivate",)},
        COORDINATORS,
        invitations.run_deactivate,
    ),
    Row("summary", {"id": ("ringkasan",), "en": ("summary",)}, COORDINATORS, summary.run_summary),
    Row("detail", {"id": ("laporan",), "en": ("details",)}, COORDINATORS, reports.run_detail),
    Row("open", {"id": ("terbuka",), "en": ("open",)}, COORDINATORS, reports.run_open),
    Row("assign", {"id": ("tugaskan",), "en": ("assign",)}, COORDINATORS, reports.run_assign),
    Row("close", {"id": ("tutup",), "en": ("close",)}, COORDINATORS, reports.run_close),
    Row(
        "roster", {"id": ("pelopor", "daftar pelopor"), "en": ("pioneers",)}, COORDINATORS, roster.run_roster
    ),
    Row("broadcast", {"id": ("siaran",), "en": ("broadcast",)}, COORDINATORS, broadcast.run_broadcast),
    Row("export", {"id": ("ekspor",), "en": ("export",)}, COORDINATORS, exports.run_export),
    Row("chart", {"id": ("grafik",), "en": ("chart",)}, COORDINATORS, exports.run_chart),
    Row(
        "broadcast_all",
        {"id": ("siaran+",), "en": ("broadcast+",)},
        COORDINATORS,
        broadcast.run_broadcast_all,
    ),
    Row(
        "help",
        {"id": ("bantuan", "bantu", "tolong", "info"), "en": ("help",)},
        ANYONE,
        lambda turn, _: run_help(turn),
    ),
)
BY_NAME = {row.name: row for row in ROWS}
# Commands whose words are followed by more: a message that starts with one is never read as a story.
ARGUMENT_TAKERS = frozenset(
    {"join", "ack", "act", "invite", "check_area", "deactivate", "status", "assign", "close", "broadcast"}
)
# One word, two commands: "laporan" starts a report, but "laporan KODE" from a coordinator shows its details.
WITH_ARGUMENT_FOR_WHO_MAY = {"report": "detail"}
# Words that still act as commands in the middle of a flow, when they are the whole message.
MID_FLOW = ("cancel", "help")


def _words() -> dict[str, str]:
    """Every word of every language, to the command it calls; the first row that has a word keeps it."""
    found: dict[str, str] = {}
    for row in ROWS:
        for words in row.words.values():
            for word in words:
                found.setdefault(word, row.name)
    return found


WORDS = _words()


def _word(raw: str) -> str | None:
    """The command a word calls, as typed ('siaran+') or normalised ('Lapor!' -> 'lapor')."""
    return WORDS.get(raw.lower()) or WORDS.get(normalise(raw))


def role_of(turn: Turn) -> str:
    """The sender's role: a contact's own, or warga."""
    return turn.contact.role if turn.contact is not None else CITIZEN


def may_use(turn: Turn, name: str) -> bool:
    """Whether the sender's role may use the command."""
    row = BY_NAME.get(name)
    return row is not None and role_of(turn) in row.roles


def _word_then_fillers(text: str) -> str | None:
    """'batal aja', 'stop dong pak': a command word first, only fillers after it.

    Not fillers before it: "sudah berhenti" (it has stopped) answers a question, it cancels nothing.
    """
    words = lexicon.flat(lexicon.plain(text)).split()
    if not words or lexicon.without_fillers(" ".join(words)) != words[0]:
        return None
    return WORDS.get(words[0])


def parse_command(text: str, *, in_flow: bool) -> Command | None:
    """The command in a message: '/lapor', '/status@bot LPR-7K3QX', 'DAFTAR KODE', or 'lpor' with a typo."""
    stripped = text.strip()
    if stripped.startswith("/"):
        head, _, argument = stripped[1:].partition(" ")
        return Command(_word(head.split("@", 1)[0]) or "unknown", argument.strip(), True)
    whole = normalise(stripped)
    if in_flow:
        name = WORDS.get(whole) or _word_then_fillers(stripped)
        return Command(name, "", False) if name in MID_FLOW else None
    if not whole:
        return None
    name = WORDS.get(whole) or WORDS.get(lexicon.without_fillers(lexicon.plain(stripped)))
    if name:
        return Command(name, "", False)  # "lapor", and "saya mau lapor pak" too
    head, _, argument = stripped.partition(" ")
    for length in (2, 1):  # "cek wilayah 35.09", then "daftar AB12-CD34"
        words = stripped.split()
        if len(words) >= length and (name := _word(" ".join(words[:length]))):
            return Command(name, " ".join(words[length:]), False)
    if len(whole.split()) <= 3:
        close = difflib.get_close_matches(normalise(head), list(WORDS), n=1, cutoff=0.8)
        if close:
            return Command(WORDS[close[0]], argument.strip(), False)
    return None


def run_command(turn: Turn, command: Command) -> None:
    """Carry out a command, or refuse it as unknown when the sender may not use it."""
    instead = WITH_ARGUMENT_FOR_WHO_MAY.get(command.name)
    if instead and command.argument and may_use(turn, instead):
        command = Command(instead, command.argument, command.slash)
    if not may_use(turn, command.name):
        turn.say("common.unknown_command", citizens.menu_choices(turn))
        return
    if turn.contact is not None and turn.contact.role == KOORDINATOR:
        # Who did what, on what, when: every coordinator's command, for accountability.
        turn.session.add(
            AuditEntry(
                contact_id=turn.contact.id, command=command.name, argument=command.argument[:500], at=turn.now
            )
        )
    BY_NAME[command.name].run(turn, command)


def run_help(turn: Turn) -> None:
    """The commands this sender may use, in their language, and what to do in danger."""
    role = role_of(turn)
    lines = [turn.t(f"help.line.{row.name}") for row in ROWS if row.listed and role in row.roles]
    turn.say("help.text", citizens.menu_choices(turn), commands="\n".join(lines))
