"""Answers as villagers type them on a cheap phone: slang, abbreviations, lists joined by 'sama'.

Each row is one answer at one question, written as people write, not as the bot's options read, and
what the bot must understand from it. The phrases the bot knows live in config/lexicon/id.toml.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from chat import Chat
from hypothesis import given, settings
from hypothesis import strategies as st
from indoNLP.preprocessing import SLANG_DATA
from sqlalchemy import select

from handlers import drafts, lexicon
from handlers.alerts.policy import Policy
from handlers.messages import Inbound
from handlers.schedule import fire_due_timers
from handlers.severity import assess
from models.base import utcnow
from models.db import Database
from models.tables import Conversation, OutboxMessage, Report, Timer

PLACE = "desa karangrejo kec sumbersari jember"
# The answers that reach each question, in everyday words too.
BEFORE = {
    "category": ["mau lapor"],
    "place": ["lapor", "tawuran"],
    "place_confirm": ["lapor", "tawuran", PLACE],
    "when": ["lapor", "tawuran", PLACE, "iya"],
    "people": ["lapor", "tawuran", PLACE, "iya", "td malam", "Dua kelompok pemuda saling ejek di pasar"],
}
BEFORE["danger"] = [*BEFORE["people"], "sekitar 30 org"]
BEFORE["vulnerable"] = [*BEFORE["danger"], "ga ada"]
BEFORE["photo"] = [*BEFORE["vulnerable"], "ga ada"]
BEFORE["contact"] = [*BEFORE["photo"], "gak ada foto"]

# question, what the person types, the answer stored (state key and value), the next question
ROWS = [
    ("category", "tawuran", "category", "tawuran", "place"),
    ("category", "sengketa tanah", "category", "land", "place"),
    ("category", "bentrok perguruan silat", "category", "group_clash", "place"),
    ("category", "berantem", "category", "group_clash", "place"),
    ("category", "rebutan tanah", "category", "land", "place"),
    ("category", "pilkades", "category", "election", "place"),
    ("category", "hoax", "category", "hoax", "place"),
    ("place_confirm", "iya pak", "region_code", "35.09.21.1004", "when"),
    ("place_confirm", "bener", "region_code", "35.09.21.1004", "when"),
    ("place_confirm", "y", "region_code", "35.09.21.1004", "when"),
    ("when", "skrg", "occurred", "Sedang terjadi sekarang", "what"),
    ("when", "barusan", "occurred", "Sedang terjadi sekarang", "what"),
    ("when", "skrg msh berlangsung", "occurred", "Sedang terjadi sekarang", "what"),
    ("when", "kmrn", "occurred", "Kemarin", "what"),
    ("when", "kemaren", "occurred", "Kemarin", "what"),
    ("when", "besok", "occurred", "Akan terjadi (ada rencana atau ancaman)", "what"),
    ("when", "td malam jam 9", "occurred", "td malam jam 9", "what"),
    # "tadi malam" is one letter from "nanti malam"; last night must never be read as "will happen".
    ("when", "tadi malam", "occurred", "Kemarin", "what"),
    ("when", "td malem", "occurred", "Kemarin", "what"),
    ("when", "tadi pagi", "occurred", "Hari ini", "what"),
    ("when", "nanti malam", "occurred", "Akan terjadi (ada rencana atau ancaman)", "what"),
    ("people", "ratusan", "people", "mass", "danger"),
    ("people", "mungkin seratusan", "people", "crowd", "danger"),
    ("people", "puluhan org", "people", "group", "danger"),
    ("people", "10", "people", "few", "danger"),
    ("people", "sekitar 30 org", "people", "group", "danger"),
    ("people", "gatau", "people", "unknown", "danger"),
    ("people", "tdk tau pak", "people", "unknown", "danger"),
    ("people", "bbrp org", "people", "few", "danger"),
    ("people", "dua puluh org", "people", "group", "danger"),
    ("people", "kira2 seratus dua puluh orang", "people", "crowd", "danger"),
    ("people", "tiga ratus lebih", "people", "mass", "danger"),
    ("people", "lima", "people", "few", "danger"),
    ("danger", "ada celurit", "danger", ["weapons"], "vulnerable"),
    ("danger", "bawa sajam", "danger", ["weapons"], "vulnerable"),
    ("danger", "ga ada", "danger", [], "vulnerable"),
    ("danger", "gak ada pak", "danger", [], "vulnerable"),
    ("danger", "tidak ada yang luka", "danger", [], "vulnerable"),
    ("danger", "blm ada", "danger", [], "vulnerable"),
    ("danger", "ada yg luka", "danger", ["injuries"], "vulnerable"),
    ("danger", "motor dibakar", "danger", ["damage"], "vulnerable"),
    ("danger", "clurit dan ada yg luka", "danger", ["weapons", "injuries"], "vulnerable"),
    ("danger", "celurit sama parang", "danger", ["weapons"], "vulnerable"),
    ("vulnerable", "anak2 sekolah", "vulnerable", ["children"], "photo"),
    ("vulnerable", "warga miskin sama lansia", "vulnerable", ["poor", "elderly"], "photo"),
    ("vulnerable", "ibu2 dan anak2", "vulnerable", ["women", "children"], "photo"),
    ("vulnerable", "org tua", "vulnerable", ["elderly"], "photo"),
    ("vulnerable", "gak ada", "vulnerable", [], "photo"),
    ("photo", "gak ada foto", "photo", None, "contact"),
    ("photo", "ga ada", "photo", None, "contact"),
    ("photo", "blm ada", "photo", None, "contact"),
    ("photo", "nanti aja", "photo", None, "contact"),
    ("contact", "anonim aja", "contact", "anonymous", "summary"),
    ("contact", "jangan hubungi saya", "contact", "anonymous", "summary"),
    ("contact", "rahasiakan nama saya", "contact", "anonymous", "summary"),
    ("contact", "boleh dihubungi", "contact", "direct", "summary"),
    ("contact", "lewat sini aja", "contact", "relay", "summary"),
    # Found by the hand-written dialogues of tests/villagers.toml.
    ("category", "ribut warga", "category", "group_clash", "place"),
    ("category", "rebutan banyu", "category", "land", "place"),
    ("place_confirm", "nggih", "region_code", "35.09.21.1004", "when"),
    ("when", "minggu kmrn jam 8 malem", "occurred", "minggu kmrn jam 8 malem", "what"),
    ("danger", "kayaknya ada yg luka", "danger", ["injuries"], "vulnerable"),
    ("danger", "lempar batu, ada yg luka", "danger", ["injuries"], "vulnerable"),
    ("danger", "mboten wonten", "danger", [], "vulnerable"),
    ("vulnerable", "kurang tau", "vulnerable", [], "photo"),
    ("photo", "ada tapi nanti", "photo", None, "contact"),
    ("photo", "ga berani foto", "photo", None, "contact"),
    # English, for those who write it.
    ("category", "land dispute", "category", "land", "place"),
    ("place_confirm", "yes that's right", "region_code", "35.09.21.1004", "when"),
    ("when", "yesterday", "occurred", "Kemarin", "what"),
    ("people", "hundreds", "people", "mass", "danger"),
    ("danger", "nobody hurt", "danger", [], "vulnerable"),
    ("danger", "knives and injured", "danger", ["weapons", "injuries"], "vulnerable"),
    ("vulnerable", "kids and elderly", "vulnerable", ["children", "elderly"], "photo"),
    ("photo", "no pics", "photo", None, "contact"),
    ("contact", "stay anonymous", "contact", "anonymous", "summary"),
]

# Everyday words are never a place: the bot asks for the name instead of offering one far away.
NOT_PLACES = ["ya", "tidak tahu", "sini pak", "bukan", "gatau", "di sini", "iya", "nggih", "here", "not sure"]

_people = itertools.count(1)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One SQLite database for the whole table; each row is a different person."""
    database = Database(f"sqlite:///{Path(tmp_path_factory.mktemp('words')) / 'bot.db'}")
    yield database
    database.dispose()


def at_question(db: Database, question: str) -> Chat:
    """A new person who has answered everything before this question."""
    chat = Chat(db, address=f"warga-{next(_people)}")
    chat.say(*BEFORE[question])
    assert where(chat)[0] == question, (question, chat.replies())
    return chat


def where(chat: Chat) -> tuple[str | None, dict]:
    with chat.db.transaction() as session:
        conversation = session.scalars(select(Conversation).where(Conversation.address == chat.address)).one()
        return conversation.step, dict(conversation.state or {})


@pytest.mark.parametrize(("question", "typed", "key", "stored", "next_question"), ROWS)
def test_everyday_answers_are_understood(
    db: Database, question: str, typed: str, key: str, stored: object, next_question: str
) -> None:
    chat = at_question(db, question)
    replies = chat.send(typed)
    step, state = where(chat)
    assert step == next_question, (typed, replies)
    assert state[key] == stored, (typed, state)


@pytest.mark.parametrize("typed", NOT_PLACES)
def test_everyday_words_are_never_taken_for_a_place(db: Database, typed: str) -> None:
    chat = at_question(db, "place")
    replies = chat.send(typed)
    assert where(chat)[0] == "place"
    assert "Mohon tulis nama tempatnya" in replies[0]
    assert "benar?" not in "".join(replies)


def test_a_whole_report_in_everyday_words_gets_a_code(db: Database) -> None:
    chat = at_question(db, "contact")
    chat.say("anonim aja")
    done = chat.send("kirim")
    assert "Kode laporan: LPR-" in done[0]
    with db.transaction() as session:
        report = session.scalars(
            select(Report).where(Report.code == done[0].split("Kode laporan: ")[1][:9])
        ).one()
    assert (report.category, report.people, report.anonymous) == ("tawuran", "group", True)


def test_only_the_reporters_own_words_count_toward_the_level(db: Database) -> None:
    """The option 'Akan terjadi (ada rencana atau ancaman)' is the bot's wording, not a threat reported."""
    chat = at_question(db, "when")
    chat.say(
        "besok", "Dua kelompok pemuda saling ejek di pasar", "sekitar 5 org", "ga ada", "ga ada", "ga ada"
    )
    chat.say("anonim aja", "kirim")
    with db.transaction() as session:
        report = session.scalars(select(Report).order_by(Report.id.desc()).limit(1)).one()
    assert not any("ancaman" in reason for reason in report.level_reasons), report.level_reasons


def test_status_is_understood_however_it_is_asked_and_tells_the_truth(db: Database) -> None:
    """'cek status KODE', 'status KODE' and a bare code all show it; nobody reachable is said plainly."""
    reporter = at_question(db, "contact")
    code = reporter.say("anonim aja", "kirim")[0].split("Kode laporan: ")[1][:9]
    for asked in (f"cek status {code}", f"status {code.lower()}", code, f"{code} gimana pak"):
        answer = Chat(db, address=f"warga-{next(_people)}").send(asked)
        assert f"Laporan {code}" in answer[-1], (asked, answer)
        # Nobody is registered for Karangrejo here, so it is not "being passed to officers".
        assert "belum ada petugas terdaftar" in answer[-1], answer


def test_cancelling_says_what_was_cancelled(db: Database) -> None:
    chat = Chat(db, address=f"warga-{next(_people)}")
    chat.send("status")
    assert "Baik, dibatalkan." in chat.send("batal")[0]


def test_someone_back_after_a_break_is_reminded_and_lanjut_is_not_an_answer(db: Database) -> None:
    chat = at_question(db, "when")
    with db.transaction() as session:
        conversation = session.scalars(select(Conversation).where(Conversation.address == chat.address)).one()
        conversation.last_inbound_at -= timedelta(hours=2)
    replies = chat.send("lanjut")
    assert replies[0].startswith("Selamat datang kembali. Anda sedang mengisi laporan")
    assert "Kapan kejadiannya?" in replies[-1]
    step, state = where(chat)
    assert step == "when" and "occurred" not in state


def test_a_long_story_is_kept_up_to_the_limit_and_the_reporter_told(db: Database) -> None:
    chat = at_question(db, "when")
    chat.send("td malam")
    story = "Warga dua dusun saling ejek dan mengancam di pasar. " * 60  # about 3,000 characters
    replies = chat.send(story)
    assert "kami simpan 2000 huruf pertamanya" in replies[0]
    step, state = where(chat)
    assert step == "people" and 1900 < len(state["description"]) <= 2000


def test_switching_language_mid_report_asks_the_same_question_in_the_new_language(db: Database) -> None:
    chat = at_question(db, "when")
    replies = chat.send("/bahasa en")
    assert replies[-1].startswith("When did it happen?"), replies
    assert where(chat)[0] == "when"


@pytest.mark.parametrize(
    "typed",
    [
        "emg siapa yg nanya?",
        "Td mlm ad tawuran, gk tau brp org, msh rame skrg",
        "warga pd bawa sajam dan batu di dkt pasar",
        'jalan"nya ditutup, teman"ny jg ikut',  # keys with quotes, as the lexicon has them
        "Yaaa  gmn sih, KK dtg bgt",  # a key with a space in it ("yaaa "), capitals
        "",
    ],
)
def test_slang_is_written_out_exactly_as_the_lexicon_library_does(typed: str) -> None:
    """Our copy of indoNLP's `replace_slang`, which tries only the entries a word begins, says the same."""
    from indoNLP.preprocessing import replace_slang as library

    assert lexicon.replace_slang(typed) == library(typed)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(sorted(SLANG_DATA)[::7]),
            st.sampled_from(["yg", "Yg", "GK", "ada", "tawuran", "ſm", "K", "ı", "2", "pasar"]),
            st.text(max_size=6),
        ),
        max_size=8,
    ).map(" ".join)
)
def test_slang_is_written_out_as_the_library_does_whatever_is_typed(typed: str) -> None:
    """Where indoNLP's `replace_slang` answers, ours answers the same; where it raises, ours does not."""
    from indoNLP.preprocessing import replace_slang as library

    ours = lexicon.replace_slang(typed)
    try:
        expected = library(typed)
    except KeyError:  # a word matched only by case folding, such as "ſm"
        return
    assert ours == expected


def test_a_word_matched_only_by_case_folding_is_left_as_written() -> None:
    """The library raises KeyError on "ſm" (its pattern ignores case, its table is lowercase ASCII)."""
    assert lexicon.replace_slang("ſm yg") == "ſm yang"


def test_english_danger_words_count_too() -> None:
    found = assess(
        danger_signs=[], vulnerable_groups=[], people="few", description="a man was stabbed with a knife"
    )
    assert found.level == "siaga" and "word:knife" in found.reasons
    assert (
        assess(danger_signs=[], vulnerable_groups=[], people="few", description="they burned a house").level
        == "awas"
    )


def test_an_ambiguous_name_lists_villages_of_the_home_region_first_with_a_way_out(db: Database) -> None:
    chat = at_question(db, "place")
    chat.engine.policy = Policy(home_region="35.09")
    chat.send("karangrejo")
    assert chat.labels[:2] == [
        "Karangrejo, Gumukmas, Kabupaten Jember, Jawa Timur",
        "Karangrejo, Sumbersari, Kabupaten Jember, Jawa Timur",
    ]
    replies = chat.send("bukan semua")
    assert "Mohon tulis lebih lengkap" in replies[0]
    assert where(chat)[0] == "place"
    chat.send("karangrejo sumbersari jember")
    assert where(chat)[1]["candidates"][0][0] == "35.09.21.1004"


def fire_everything_due(db: Database, *, now: datetime, policy: Policy) -> None:
    """What the bot's timer ticks do over a while: this module's database holds every test's drafts."""
    while fire_due_timers(db, now=now, policy=policy):
        pass


def test_an_unfinished_report_gets_one_reminder_and_is_deleted_after_a_day(db: Database) -> None:
    chat = at_question(db, "when")
    policy = Policy(draft_remind_minutes=30)

    def reminders() -> list[OutboxMessage]:
        with db.transaction() as session:
            return list(
                session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.address == chat.address, OutboxMessage.purpose == "reminder"
                    )
                )
            )

    fire_everything_due(db, now=utcnow() + timedelta(minutes=20), policy=policy)
    assert reminders() == []
    fire_everything_due(db, now=utcnow() + timedelta(minutes=31), policy=policy)
    fire_everything_due(db, now=utcnow() + timedelta(minutes=45), policy=policy)
    [reminder] = reminders()
    assert reminder.text.startswith("Laporan Anda belum terkirim") and reminder.priority == 3
    fire_everything_due(db, now=utcnow() + timedelta(hours=25), policy=policy)
    assert where(chat) == (None, {"draft_expired": True})
    replies = chat.send("halo")  # the reminder queued earlier is among what the person now sees
    told = [r for r in replies if r.startswith("Laporan Anda yang belum selesai sudah kami hapus")]
    assert len(told) == 1 and "Selamat datang" in replies[-1]
    assert where(chat)[1] == {}


def test_the_reminder_counts_from_the_last_answer_and_comes_again_after_a_new_silence(db: Database) -> None:
    start = utcnow()
    policy = Policy(draft_remind_minutes=30, sender_messages_per_minute=0, sender_reports_per_hour=0)
    chat = Chat(db, address=f"warga-{next(_people)}", policy=policy)
    chat.engine.clock = lambda: start
    chat.say(*BEFORE["when"])

    def reminders_by(minutes: int) -> int:
        fire_everything_due(db, now=start + timedelta(minutes=minutes), policy=policy)
        with db.transaction() as session:
            return len(
                session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.address == chat.address, OutboxMessage.purpose == "reminder"
                    )
                ).all()
            )

    chat.engine.clock = lambda: start + timedelta(minutes=20)
    chat.send("tadi malam")  # an answer twenty minutes in: thirty more from here
    assert reminders_by(31) == 0
    assert reminders_by(49) == 0
    assert reminders_by(51) == 1
    chat.engine.clock = lambda: start + timedelta(minutes=60)
    chat.send("Dua kelompok pelajar saling ejek di depan sekolah")
    assert reminders_by(89) == 1
    assert reminders_by(91) == 2
    assert where(chat)[0] == "people"


def test_a_sent_report_is_never_reminded_about(db: Database) -> None:
    chat = at_question(db, "contact")
    chat.say("anonim aja", "kirim")
    fire_everything_due(db, now=utcnow() + timedelta(hours=25), policy=Policy())
    with db.transaction() as session:
        kinds = set(
            session.scalars(select(OutboxMessage.purpose).where(OutboxMessage.address == chat.address))
        )
    assert "reminder" not in kinds


def test_drafts_sent_in_one_page_are_not_reminded_about_and_one_begun_after_them_is(db: Database) -> None:
    # A page forgets the timers of the drafts its turns finished together, once its turns are done; a
    # report begun after one of them, in the same page, keeps the timers set for it.
    sent, again = at_question(db, "contact"), at_question(db, "contact")
    sent.send("anonim aja")
    again.send("anonim aja")
    page = [
        Inbound(sent.channel, sent.address, "page-1", text="kirim"),
        Inbound(again.channel, again.address, "page-2", text="kirim"),
        Inbound(again.channel, again.address, "page-3", text="lapor"),
        # Someone new who begins and cancels within the page: their timers, set in it, are found.
        Inbound(sent.channel, "warga-baru", "page-4", text="lapor"),
        Inbound(sent.channel, "warga-baru", "page-5", text="batal"),
    ]
    assert sent.engine.handle_many(page).results == [True] * 5
    assert where(sent)[0] is None and where(again)[0] == "category"
    with db.transaction() as session:
        waiting = session.execute(
            select(Conversation.address, Timer.kind)
            .join(Timer, Timer.conversation_id == Conversation.id)
            .where(Timer.fired_at.is_(None), Timer.kind.in_(drafts.KINDS))
        ).all()
    assert sorted(waiting) == [(again.address, drafts.EXPIRE), (again.address, drafts.REMIND)]
    fire_everything_due(db, now=utcnow() + timedelta(hours=2), policy=Policy(draft_remind_minutes=30))
    with db.transaction() as session:
        reminded = session.scalars(
            select(OutboxMessage.address).where(OutboxMessage.purpose == "reminder")
        ).all()
    assert sent.address not in reminded
    assert reminded.count(again.address) == 1


@pytest.mark.parametrize(
    "words", ["batal aja", "batalkan saja pak", "batal deh", "stop dong", "berhenti aja"]
)
def test_a_report_is_cancelled_in_everyday_words_at_any_question(db: Database, words: str) -> None:
    for question in ("category", "place_confirm", "people", "contact"):
        chat = at_question(db, question)
        assert chat.send(words) == ["Laporan dibatalkan. Data yang belum dikirim sudah dihapus."], question
        assert where(chat) == (None, {})


def test_a_story_that_says_ga_jadi_is_a_story_not_a_cancel(db: Database) -> None:
    chat = at_question(db, "when")
    chat.send("td malam")
    assert where(chat)[0] == "what"
    chat.send("Dua kampung hampir tawuran tapi ga jadi, dilerai warga")
    assert where(chat)[0] == "people"


@pytest.mark.parametrize("words", ["sudah berhenti", "ada info"])
def test_an_answer_with_a_command_word_after_other_words_is_an_answer(db: Database, words: str) -> None:
    # "sudah berhenti" (it has stopped) once cancelled the report: "sudah" is a filler elsewhere.
    chat = at_question(db, "when")
    chat.send(words)
    assert where(chat)[0] in ("when", "what")
    assert where(chat)[1]["category"] == "tawuran"
