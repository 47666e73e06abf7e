"""Villagers' whole dialogues, as they write: stories told at once, terse answers, wrong turns.

Each dialogue must end with a report code. Printed per dialogue (pytest -s): the messages it took and
how many were refused (the bot stayed on the same question). A story that names what, where and a danger
sign must reach its code in at most 6 messages.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat import Chat
from sqlalchemy import select

from models.db import Database
from models.tables import Conversation, Report

logger = logging.getLogger(__name__)

# name, the messages, the most messages it may take (None: printed only), what the report must hold
DIALOGUES = [
    (
        "tawuran told at once",
        [
            "tolong pak ada tawuran pelajar di desa karangrejo kec sumbersari jember, ada yg bawa celurit",
            "iya",
            "skrg",
            "anonim aja",
            "kirim",
        ],
        6,
        {"category": "tawuran", "danger_signs": ["weapons"], "region_code": "35.09.21.1004"},
    ),
    (
        "clash with the time and a crowd",
        [
            "ada bentrok perguruan silat di kec sumbersari jember skrg, ratusan org, ada yg luka",
            "ya",
            "jangan hubungi saya",
            "kirim",
        ],
        6,
        {"category": "group_clash", "danger_signs": ["injuries"], "people": "mass"},
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
        {"category": "land", "danger_signs": [], "may_contact": True},
    ),
    (
        "provocation, women and children afraid",
        [
            "ada provokasi di grup wa warga kec kaliwates jember, anak2 dan ibu2 takut keluar rumah",
            "ya",
            "hari ini",
            "anonim",
            "kirim",
        ],
        None,
        {"category": "hoax", "vulnerable_groups": ["children", "women"]},
    ),
    (
        "village election, a convoy",
        [
            "ada ketegangan pilkades di desa karangrejo kec sumbersari jember, "
            "massa pendukung konvoi keliling",
            "ya",
            "skrg",
            "anonim aja",
            "kirim",
        ],
        6,
        {"category": "election", "danger_signs": ["crowd"]},
    ),
    (
        "story without the place",
        [
            "tolong ada tawuran skrg, ada yg bawa sajam",
            "desa karangrejo sumbersari jember",
            "iya pak",
            "anonim aja",
            "kirim",
        ],
        6,
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
    refused = 0
    for typed in messages:
        before = step_of(chat)
        replies = chat.send(typed)
        if before[0] is not None and step_of(chat) == before:
            refused += 1
    assert any("Kode laporan: LPR-" in r for r in replies), (name, replies)
    print(f"{name}: {len(messages)} messages to a code, {refused} refused")
    logger.info("%s: %d messages to a code, %d refused", name, len(messages), refused)
    if at_most is not None:
        assert len(messages) <= at_most
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
