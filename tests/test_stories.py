"""Villagers' whole dialogues, as they write: stories told at once, terse answers, wrong turns.

Each dialogue must end with a report code. Printed per dialogue (pytest -s): the message that brought the
code, the messages in all, and how many were refused (the bot stayed on the same question). An urgent
story that names what, where and a danger sign has its alert sent, and its code, by the third message.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat import Chat
from sqlalchemy import select

from handlers.story import read_story
from models.db import Database
from models.tables import Contact, Conversation, OutboxMessage, Report

logger = logging.getLogger(__name__)

# name, the messages, the message by which the code must have come (None: printed only), the report
DIALOGUES = [
    (
        "tawuran told at once, alert sent first",
        [
            "tolong pak ada tawuran pelajar di desa karangrejo kec sumbersari jember, ada yg bawa celurit",
            "iya",
            "kirim sekarang",
            "skrg",
            "anonim aja",
        ],
        3,
        {"category": "tawuran", "danger_signs": ["weapons"], "region_code": "35.09.21.1004"},
    ),
    (
        "clash with the time and a crowd",
        [
            "ada bentrok perguruan silat di kec sumbersari jember skrg, ratusan org, ada yg luka",
            "ya",
            "kirim",
            "jangan hubungi saya",
        ],
        3,
        {"category": "group_clash", "danger_signs": ["injuries"], "people": "mass", "anonymous": True},
    ),
    (
        "land dispute, nobody hurt",
        [
            "warga ribut soal sengketa tanah dgn perusahaan di desa karangrejo kec sumbersari jember, "
            "blm ada yg luka",
            "iya",
            "kemarin",
            "boleh dihubungi",
            "kirim",
        ],
        6,
        {"category": "land", "danger_signs": [], "may_contact": True, "level": "waspada"},
    ),
    (
        "children at risk, questions answered first",
        [
            "ada provokasi di grup wa warga kec kaliwates jember, anak2 dan ibu2 takut keluar rumah",
            "ya",
            "jawab dulu",
            "hari ini",
            "anonim",
            "kirim",
        ],
        6,
        {"category": "hoax", "vulnerable_groups": ["children", "women"]},
    ),
    (
        "village election, a convoy",
        [
            "ada ketegangan pilkades di desa karangrejo kec sumbersari jember, "
            "massa pendukung konvoi keliling",
            "ya",
            "kirim sekarang",
            "skrg",
            "anonim aja",
        ],
        3,
        {"category": "election", "danger_signs": ["crowd"], "occurred": "Sedang terjadi sekarang"},
    ),
    (
        "story without the place",
        [
            "tolong ada tawuran skrg, ada yg bawa sajam",
            "desa karangrejo sumbersari jember",
            "iya pak",
            "kirim sekarang",
            "anonim aja",
        ],
        4,
        {"category": "tawuran", "danger_signs": ["weapons"]},
    ),
    (
        "terse answers one by one",
        [
            "mau lapor pak",
            "tawuran",
            "karangrejo sumbersari jember",
            "iya",
            "barusan",
            "anak sekolah saling lempar batu di dekat pasar",
            "puluhan org",
            "ga ada",
            "ga ada",
            "ga ada foto",
            "anonim aja",
            "kirim",
        ],
        None,
        {"category": "tawuran", "people": "group"},
    ),
    (
        "land, listed groups at risk",
        [
            "lapor",
            "sengketa tanah",
            "kec sumbersari jember",
            "ya",
            "kmrn",
            "warga rebutan lahan dengan perusahaan sawit",
            "ratusan",
            "tidak ada",
            "warga miskin sama lansia",
            "gak ada",
            "anonim aja",
            "kirim",
        ],
        None,
        {"category": "land", "vulnerable_groups": ["poor", "elderly"]},
    ),
    (
        "wrong turns on the way",
        [
            "halo",
            "lapor",
            "bentrok perguruan silat",
            "ya",
            "sumbersari jember",
            "iya",
            "skrg",
            "dua perguruan silat saling serang dekat pasar",
            "30 org",
            "ada celurit",
            "ga ada",
            "lewati",
            "1",
            "kirim",
        ],
        None,
        {"category": "group_clash", "danger_signs": ["weapons"], "people": "group"},
    ),
]

_people = itertools.count(1)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(f"sqlite:///{Path(tmp_path_factory.mktemp('stories')) / 'bot.db'}")
    yield database
    database.dispose()


def step_of(chat: Chat) -> tuple[str | None, str | None]:
    with chat.db.transaction() as session:
        found = session.scalars(select(Conversation).where(Conversation.address == chat.address)).first()
        return (found.flow, found.step) if found else (None, None)


@pytest.mark.parametrize(
    ("name", "messages", "at_most", "expected"), DIALOGUES, ids=[d[0] for d in DIALOGUES]
)
def test_a_villagers_dialogue_ends_with_a_code(
    db: Database, name: str, messages: list[str], at_most: int | None, expected: dict[str, object]
) -> None:
    chat = Chat(db, address=f"warga-cerita-{next(_people)}")
    refused, code_at = 0, None
    for number, typed in enumerate(messages, start=1):
        before = step_of(chat)
        replies = chat.send(typed)
        if before[0] is not None and step_of(chat) == before:
            refused += 1
        if code_at is None and any("Kode laporan: LPR-" in r for r in replies):
            code_at = number
    assert code_at is not None, (name, replies)
    assert step_of(chat) == (None, None), "the dialogue is over"
    print(f"{name}: code at message {code_at}, {len(messages)} messages in all, {refused} refused")
    logger.info("%s: code at message %d, %d in all, %d refused", name, code_at, len(messages), refused)
    if at_most is not None:
        assert code_at <= at_most
        assert refused == 0, name
    with db.transaction() as session:
        report = session.scalars(select(Report).where(Report.conversation_id == _conversation(chat))).one()
    for field, value in expected.items():
        actual = getattr(report, field)
        if field == "region_code":
            assert actual == value
        elif isinstance(value, list):
            assert sorted(actual) == sorted(value), (field, actual)
        else:
            assert actual == value, (field, actual)


def _conversation(chat: Chat) -> int:
    with chat.db.transaction() as session:
        return session.scalars(select(Conversation.id).where(Conversation.address == chat.address)).one()


def test_an_urgent_story_alerts_at_the_third_message_and_later_answers_follow_as_an_update(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    with db.transaction() as session:
        session.add(Contact(name="Pelopor", role="pelopor", region_code="35.09.21", telegram_chat_id="77"))
    chat = Chat(db, address="warga-mendesak")

    def to_pioneer() -> list[str]:
        with db.transaction() as session:
            return list(session.scalars(select(OutboxMessage.text).where(OutboxMessage.address == "77")))

    chat.send("tolong pak ada tawuran pelajar di desa karangrejo kec sumbersari jember, ada yg bawa celurit")
    chat.send("iya")
    assert to_pioneer() == []
    chat.send("kirim sekarang")
    [alert] = to_pioneer()
    assert "PERINGATAN DINI — SIAGA" in alert and "Belum disebutkan" in alert
    chat.send("skrg")
    assert "sudah kami tambahkan" in chat.send("boleh dihubungi")[-1]
    *_, addition = to_pioneer()
    assert addition.startswith("Tambahan untuk laporan LPR-") and "Sedang terjadi sekarang" in addition
    with db.transaction() as session:
        report = session.scalars(select(Report)).one()
    # Until the reporter said otherwise, the report stayed anonymous; now it holds their wish.
    assert (report.occurred, report.anonymous, report.may_contact) == ("Sedang terjadi sekarang", False, True)
    db.dispose()


@pytest.mark.parametrize(
    ("told", "understood"),
    [
        (
            "ada bentrok di desa karangrejo kec sumbersari jember, kira2 dua puluh orang bawa parang",
            {"category": "group_clash", "danger": ["weapons"], "people": "group"},
        ),
        (
            "Students brawl in Karangrejo village, Sumbersari district, Jember. One boy stabbed.",
            {
                "danger": ["injuries"],
                "candidates": [["35.09.21.1004", "Karangrejo, Sumbersari, Kabupaten Jember, Jawa Timur"]],
            },
        ),
        (
            "hundreds of people are gathering near the mosque in Patrang district, Jember, kids are scared",
            {"category": "sara", "people": "mass", "vulnerable": ["children"]},
        ),
        (
            "there is a big fight right now, nobody hurt yet, no weapons",
            {"category": "group_clash", "when": "now"},
        ),
    ],
)
def test_a_story_is_read_in_indonesian_or_english(told: str, understood: dict) -> None:
    read = read_story(told)
    assert read is not None
    assert {key: read.get(key) for key in understood} == understood
    assert "danger" not in read or "nobody" not in told


def test_a_story_in_english_is_answered_in_english_and_gets_a_code(db: Database) -> None:
    chat = Chat(db, address="visitor")
    first = chat.send(
        "There is a fight between two villages in Karangrejo village, Sumbersari district, Jember. "
        "Men with machetes."
    )
    assert "continue in English" in first[0]
    replies = chat.say("yes", "send now")
    assert any("Report code: LPR-" in r for r in replies), replies
    report = chat.reports()[-1]  # the newest: this visitor's
    assert (report.category, report.danger_signs, report.region_code) == (
        "group_clash",
        ["weapons"],
        "35.09.21.1004",
    )
