"""No input at any step, and no command by any role, crashes the engine or loses the draft (hypothesis)."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from chat import FULL_REPORT, Chat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from config.catalog import text
from handlers.codes import normalise_code
from handlers.commands import table
from handlers.engine import FLOWS
from handlers.matching import pick_many
from handlers.messages import Choice, Media
from models.tables import Contact, Conversation

_senders = itertools.count(1)
# A step of the report, reached by replaying this many answers of a full report.
STEPS = range(1, len(FULL_REPORT))

anything = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(categories=["So", "Sk", "Cs", "Co", "Zs", "Cc"]), max_size=50),
    st.sampled_from(["/batal", "/bantuan", "/lapor", "/status", "/x", "0", "-1", "99", "1,,,", "ya tidak"]),
)


# A photo, a voice note, a video, and files that could not be kept, as the channels hand them over.
_MEDIA_FILE = Path(tempfile.mkdtemp(prefix="prop-media-")) / "in-media.bin"
_MEDIA_FILE.write_bytes(b"media")
sent_media = st.sampled_from(
    [
        Media("photo", "image/jpeg", str(_MEDIA_FILE)),
        Media("voice", "audio/ogg", str(_MEDIA_FILE), telegram_file_id="voice-1"),
        Media("video", "video/mp4", str(_MEDIA_FILE)),
        Media("video", "video/mp4", problem="too_large"),
        Media("photo", "image/jpeg", problem="unavailable"),
    ]
)


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory):  # type: ignore[no-untyped-def]
    from models.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'bot.db'}")
    yield db
    db.dispose()


def flow_of(db, address: str) -> str | None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        return session.scalars(select(Conversation.flow).where(Conversation.address == address)).one()


@pytest.mark.parametrize("steps", STEPS)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=st.lists(st.tuples(anything, st.none() | sent_media), min_size=1, max_size=3),
    data=st.data(),
)
def test_no_input_crashes_any_step(sqlite_db, steps: int, messages, data) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(sqlite_db, address=f"prop-{steps}-{data.draw(st.uuids())}")
    chat.say(*FULL_REPORT[:steps])
    for message, media in messages:
        was_in_flow = flow_of(sqlite_db, chat.address) is not None
        replies = chat.send(message, media=media)
        assert replies, "every message gets an answer"
        assert not any("gangguan pada sistem" in r for r in replies), replies
        if was_in_flow and flow_of(sqlite_db, chat.address) is None:
            # A draft is never left silently: only by sending the report, or with the person told it
            # was cancelled ("batal", "stop", or "ga" to "Kirim laporan ini?").
            told = any(text(lang, "common.cancelled") in replies for lang in ("id", "en"))
            assert told or chat.reports(), message


@given(st.text(max_size=60))
def test_pick_many_never_raises(text: str) -> None:
    choices = [Choice("a", "Senjata tajam"), Choice("b", "Korban luka"), Choice("c", "Tidak ada")]
    result = pick_many(text, choices)
    assert result is None or all(c in choices for c in result)


@given(st.text(max_size=30))
def test_code_normaliser_never_raises_and_only_returns_codes(text: str) -> None:
    code = normalise_code(text)
    assert code is None or (code.isupper() or "-" in code)


@pytest.mark.parametrize("role", [None, "pelopor", "fkdm", "koordinator"])
@pytest.mark.parametrize(
    "word", sorted({row.words["id"][0] for row in table.ROWS} | {"dataku", "hapus data"})
)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    slash=st.booleans(),
    argument=st.one_of(anything, st.sampled_from(["35", "35.09", "jember", "LPR-AAAAA", "pelopor 35.09 x"])),
)
def test_every_command_by_every_role_answers_without_breaking(  # type: ignore[no-untyped-def]
    sqlite_db, role, word, slash, argument
) -> None:
    address = f"cmd-{next(_senders)}"  # a new sender each time, so no example sees another's state
    if role is not None:
        with sqlite_db.transaction() as session:
            session.add(
                Contact(name=f"Petugas {address}", role=role, region_code="35.09", telegram_chat_id=address)
            )
    chat = Chat(sqlite_db, channel="telegram", address=address)
    replies = chat.send(f"{'/' if slash else ''}{word} {argument}".strip())
    # Whatever the command and whoever asks, an answer, and never the apology for a failed step.
    assert replies, (word, argument)
    assert not any("gangguan pada sistem" in r for r in replies), (word, argument, replies)
    with sqlite_db.transaction() as session:
        flow = session.scalars(select(Conversation.flow).where(Conversation.address == address)).one()
    assert flow in (None, *FLOWS)
