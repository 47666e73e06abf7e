"""Villagers report as they would on a cheap phone; the bot must get each to the right report, quickly.

Two corpora: fifty villagers made from a table of everyday answers (several voices per question), and the
hand-written dialogues of tests/villagers.toml (typos, wrong turns, people who do not know the place,
English speakers), each with what its finished report must hold. Each villager opens with their own
first messages and answers whatever the bot asks in their own words. The test prints, per dialogue, the
messages to the code and the answers refused, and their median and worst; the README quotes them.
"""

from __future__ import annotations

import hashlib
import itertools
import statistics
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat import Chat
from sqlalchemy import select

from models.db import Database
from models.tables import Conversation, Report

# How people answer each question, in several voices; a villager takes one voice per question.
VOICES = {
    "category": ["tawuran", "bentrok warga", "sengketa tanah", "hoax", "pilkades", "ribut agama"],
    "place_confirm": ["iya", "iya pak", "bener", "ya betul", "y"],
    "place_choose": ["1"],
    "when": ["skrg", "barusan", "td malam", "kemarin", "kmrn sore", "besok", "hari ini"],
    "what": [
        "dua kelompok pemuda saling ejek terus lempar batu",
        "warga kampung sebelah datang bawa bambu, ada yang dipukul",
        "ada yg nyebar berita bohong soal masjid di grup wa",
        "perusahaan pasang patok di tanah warga, warga marah",
    ],
    "people": ["puluhan org", "10", "ratusan", "gatau", "sekitar 30 orang", "bbrp org", "mungkin seratusan"],
    "danger": ["ga ada", "ada celurit", "ada yg luka", "gak ada pak", "blm ada", "bawa sajam"],
    "vulnerable": ["ga ada", "anak2 sekolah", "warga miskin sama lansia", "ibu2 dan anak2", "tidak ada"],
    "photo": ["gak ada foto", "ga ada", "nanti aja", "blm ada"],
    "contact": [
        "anonim aja",
        "jangan hubungi saya",
        "boleh dihubungi",
        "lewat sini aja",
        "rahasiakan nama saya",
    ],
    "urgent": ["kirim", "kirim sekarang", "iya kirim", "jawab dulu"],
    "summary": ["kirim", "ok kirim", "ya"],
}

PLACES = [
    "desa karangrejo kec sumbersari jember",
    "kec kaliwates jember",
    "kelurahan patrang kec patrang jember",
    "kec ambulu jember",
    "desa kemiri kec panti jember",
]
STORIES = [
    "tolong pak ada tawuran pelajar di {place}, ada yg bawa celurit",
    "ada bentrok perguruan silat di {place} skrg, ratusan org, ada yg luka",
    "warga ribut soal sengketa tanah dgn perusahaan di {place}, blm ada yg luka",
    "ada provokasi di grup wa warga {place}, anak2 dan ibu2 takut keluar rumah",
    "ada ketegangan pilkades di {place}, massa pendukung konvoi keliling",
    "tolong ada tawuran skrg, ada yg bawa sajam",
    "pak td malam ada yg bakar motor warga di {place}, warga mau balas",
    "di {place} ada hoax soal gereja, warga mulai kumpul",
    "bentrok antar kampung di {place} barusan, bbrp org luka",
    "ada sengketa lahan di {place}, warga ngancam mau bakar kantor desa",
]
OPENERS = ["lapor", "mau lapor pak", "halo", "saya mau lapor", "lapor kejadian"]
MOST_MESSAGES = 25

_voices = itertools.count()


def villagers() -> list[tuple[str, str, dict[str, str]]]:
    """Fifty villagers: thirty tell a story first, twenty answer question by question."""
    people = []
    for n in range(50):
        answers = {q: voices[(n + i) % len(voices)] for i, (q, voices) in enumerate(VOICES.items())}
        answers["place"] = PLACES[n % len(PLACES)]
        if n < 30:
            opening = STORIES[n % len(STORIES)].format(place=PLACES[(n // len(STORIES)) % len(PLACES)])
        else:
            opening = OPENERS[n % len(OPENERS)]
        people.append((f"villager {n + 1:02d}", opening, answers))
    return people


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(f"sqlite:///{Path(tmp_path_factory.mktemp('villagers')) / 'bot.db'}")
    yield database
    database.dispose()


def address_of(name: str) -> str:
    """A short address per villager: a channel's address has at most 64 characters."""
    return "villager-" + hashlib.sha1(name.encode()).hexdigest()[:16]


def where(chat: Chat) -> tuple[str | None, str | None]:
    with chat.db.transaction() as session:
        found = session.scalars(select(Conversation).where(Conversation.address == chat.address)).one()
        return found.flow, found.step


def talk(
    db: Database, name: str, says: list[str], answers: dict[str, str | list[str]]
) -> tuple[int, int, int]:
    """The whole dialogue; the message that brought the code, the messages in all, the refusals."""
    chat = Chat(db, address=address_of(name))
    tries = {step: [said] if isinstance(said, str) else list(said) for step, said in answers.items()}
    replies: list[str] = []
    sent, refused, code_at = 0, 0, None
    heard: list[str] = []  # the dialogue so far, shown when it goes wrong
    for said in says:
        replies = chat.send(said)
        heard += [f"> {said}", *replies, str(chat.labels)]
        sent += 1
    if where(chat)[0] is None:  # a greeting: the menu; the villager then says what they want
        replies = chat.send("lapor")
        sent += 1
    while True:
        if code_at is None and any(("Kode laporan: LPR-" in r or "Report code: LPR-" in r) for r in replies):
            code_at = sent
        flow, step = where(chat)
        if flow is None:
            break
        assert sent < MOST_MESSAGES, "\n".join([name, *heard])
        assert step in tries, "\n".join([f"{name}: no answer written for {step!r}", *heard])
        said = tries[step].pop(0) if len(tries[step]) > 1 else tries[step][0]
        replies = chat.send(said)
        heard += [f"> {said}", *replies, str(chat.labels)]
        sent += 1
        if where(chat) == (flow, step):
            refused += 1
    assert code_at is not None, "\n".join([name, *heard])
    return code_at, sent, refused


def dialogues() -> list[dict]:
    """The hand-written dialogues of tests/villagers.toml."""
    with open(Path(__file__).parent / "villagers.toml", "rb") as file:
        return tomllib.load(file)["dialogue"]


def wrong_turns(dialogue: dict) -> int:
    """The answers a dialogue gives on purpose before the right one: the refusals it may get."""
    return sum(len(said) - 1 for said in dialogue["answers"].values() if isinstance(said, list))


def unmet(db: Database, dialogue: dict, code_at: int) -> list[str]:
    """What the finished report lacks of what the dialogue expects; empty when all is there."""
    expect = dialogue["expect"]
    address = address_of(dialogue["who"])
    with db.transaction() as session:
        report = session.scalars(
            select(Report)
            .join(Conversation)
            .where(Conversation.address == address)
            .order_by(Report.id.desc())
        ).first()
        assert report is not None
        language = report.reporter.language
        found = {
            "category": report.category,
            "level": report.level,
            "people": report.people,
            "language": language,
            "place": report.region_code,
        }
        danger, vulnerable = set(report.danger_signs), set(report.vulnerable_groups)
    wrong = [
        f"{key} {found[key]!r}, expected {expect[key]!r}"
        for key in ("category", "level", "people", "language")
        if key in expect and found[key] != expect[key]
    ]
    if "place" in expect and not found["place"].startswith(expect["place"]):
        wrong.append(f"place {found['place']!r}, expected within {expect['place']!r}")
    if not set(expect.get("danger", [])) <= danger:
        wrong.append(f"danger {sorted(danger)}, expected {expect['danger']}")
    if not set(expect.get("vulnerable", [])) <= vulnerable:
        wrong.append(f"vulnerable {sorted(vulnerable)}, expected {expect['vulnerable']}")
    if code_at > expect["most"]:
        wrong.append(f"code at message {code_at}, expected at most {expect['most']}")
    return wrong


def test_fifty_villagers_get_a_code_in_their_own_words(db: Database) -> None:
    results = {name: talk(db, name, [opening], answers) for name, opening, answers in villagers()}
    for name, (code_at, sent, refused) in results.items():
        print(f"{name}: code at message {code_at}, {sent} in all, {refused} refused")
    stories = [code_at for name, (code_at, _, _) in results.items() if int(name.split()[1]) <= 30]
    stepwise = [code_at for name, (code_at, _, _) in results.items() if int(name.split()[1]) > 30]
    refusals = [refused for *_, refused in results.values()]
    print(
        f"stories: median {statistics.median(stories)}, worst {max(stories)} messages to a code; "
        f"question by question: median {statistics.median(stepwise)}, worst {max(stepwise)}; "
        f"refusals: median {statistics.median(refusals)}, worst {max(refusals)}"
    )
    assert max(stories) <= 7
    assert max(stepwise) <= 14
    assert max(refusals) <= 1


def test_hand_written_dialogues_end_in_the_report_they_tell(db: Database) -> None:
    problems, results = [], []
    for dialogue in dialogues():
        code_at, sent, refused = talk(db, dialogue["who"], dialogue["says"], dialogue["answers"])
        results.append((code_at, refused))
        print(f"{dialogue['who']}: code at message {code_at}, {sent} in all, {refused} refused")
        problems += [f"{dialogue['who']}: {wrong}" for wrong in unmet(db, dialogue, code_at)]
        if refused > wrong_turns(dialogue):
            problems.append(f"{dialogue['who']}: {refused} refused, {wrong_turns(dialogue)} wrong turns")
    codes, refusals = [c for c, _ in results], [r for _, r in results]
    print(
        f"{len(results)} hand-written dialogues: median {statistics.median(codes)}, worst {max(codes)} "
        f"messages to a code; refusals: median {statistics.median(refusals)}, worst {max(refusals)}"
    )
    assert len(results) >= 20
    assert not problems, "\n".join(problems)
