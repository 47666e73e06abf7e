"""The report flow as a citizen lives it: the questions, the hints, the code, and what ends up stored."""

from __future__ import annotations

import pytest
from chat import FULL_REPORT, Chat
from sqlalchemy import func, select

from handlers.codes import CODE
from handlers.messages import Media
from models.db import Database
from models.tables import Conversation, Document, InboundMessage, OutboxMessage


def test_a_whole_report_ends_with_a_code_and_a_stored_report(db: Database) -> None:
    chat = Chat(db)
    replies = chat.say(*FULL_REPORT[:-1])
    summary = replies[-1]
    assert "Jenis: Tawuran" in summary
    assert "Tempat: Karangrejo, Sumbersari, Kabupaten Jember, Jawa Timur" in summary
    assert "Jumlah orang: 11–50 orang" in summary
    assert "Tanda bahaya: Ada senjata (senjata tajam atau senjata api), Ada korban luka" in summary

    done = chat.send(FULL_REPORT[-1])[-1]
    assert "Kode laporan: LPR-" in done
    [report] = chat.reports()
    assert CODE.match(report.code)
    assert report.code in done
    assert report.category == "tawuran"
    assert report.region_code == "35.09.21.1004"
    assert report.danger_signs == ["weapons", "injuries"]
    assert report.vulnerable_groups == []
    assert report.people == "group"
    assert report.anonymous and not report.may_contact
    assert report.level == "awas"
    assert "sign:weapons" in report.level_reasons and "word:celurit" in report.level_reasons
    assert report.created_at.tzinfo is not None
    assert report.status == "received"


def test_each_question_comes_in_order(db: Database) -> None:
    chat = Chat(db)
    expected = [
        ("lapor", "Apa jenis kejadiannya?"),
        ("tawuran", "Di mana kejadiannya?"),
        ("karangrejo sumbersari jember", "Karangrejo, Sumbersari, Kabupaten Jember, Jawa Timur — benar?"),
        ("ya", "Kapan kejadiannya?"),
        ("kemarin", "Ceritakan apa yang terjadi"),
        ("Ada saling ejek antar perguruan silat di media sosial", "berapa orang"),
        ("1", "tanda bahaya"),
        ("tidak ada", "kelompok rentan"),
        ("anak-anak", "kirim foto, video, atau pesan suara"),
        ("lewati", "boleh menghubungi Anda"),
        ("3", "Mohon periksa laporan Anda"),
    ]
    for message, question in expected:
        assert question in chat.send(message)[-1], message


def test_place_that_means_several_regions_lets_the_person_choose(db: Database) -> None:
    chat = Chat(db)
    chat.say("lapor", "1")
    replies = chat.send("bogor")
    assert "Ada beberapa tempat dengan nama itu" in replies[-1]
    assert chat.labels == [
        "Kabupaten Bogor, Jawa Barat",
        "Kota Bogor, Jawa Barat",
        "Bukan salah satu dari ini",
    ]
    assert "Kapan kejadiannya?" in chat.send("2")[-1]


def test_place_not_found_asks_again_with_an_example(db: Database) -> None:
    chat = Chat(db)
    chat.say("lapor", "1")
    replies = chat.send("xyzzy qwerty")
    assert "belum kami temukan" in replies[0]
    assert "Contoh:" in replies[0]
    assert "Di mana kejadiannya?" in replies[-1]


def test_place_confirm_no_asks_for_the_place_again(db: Database) -> None:
    chat = Chat(db)
    chat.say("lapor", "1", "jember")
    replies = chat.send("bukan")
    assert "mohon tulis lagi" in replies[0]
    assert "Di mana kejadiannya?" in replies[-1]


def test_a_typed_place_with_a_typo_is_still_found(db: Database) -> None:
    chat = Chat(db)
    chat.say("lapor", "1")
    assert "Kabupaten Jember, Jawa Timur — benar?" in chat.send("jmber")[-1] or "Kabupaten Jember" in str(
        chat.labels
    )


def test_a_shared_location_is_confirmed_as_a_place(db: Database) -> None:
    chat = Chat(db)
    chat.say("lapor", "1")
    # A point in Patrang, Jember, shared from the phone: the place, offline, to confirm like a typed one.
    asked = chat.send(location=(-8.16, 113.72))[-1]
    assert asked == "Sekitar Patrang, Kabupaten Jember, Jawa Timur, menurut lokasi yang Anda bagikan — benar?"
    chat.send("iya")
    chat.say(*FULL_REPORT[4:])
    [report] = chat.reports()
    assert (report.region_code, report.latitude, report.longitude) == ("35.09.20", -8.16, 113.72)


def test_a_wrong_or_foreign_location_gives_way_to_the_place_name(db: Database) -> None:
    chat = Chat(db)
    chat.say("lapor", "1")
    abroad = chat.send(location=(1.29, 103.85))  # Singapore
    assert "lokasi Anda tersimpan" in abroad[0] and "tulis nama desa" in abroad[0]
    chat.send(location=(-8.16, 113.72))
    assert "Baik, mohon tulis lagi" in chat.send("bukan")[0]
    chat.say(*FULL_REPORT[2:])
    [report] = chat.reports()
    # The place typed wins; the location shared is kept beside it.
    assert (report.region_code, report.latitude) == ("35.09.21.1004", -8.16)  # Karangrejo, Sumbersari


@pytest.mark.parametrize(
    "message",
    # A 5,000-character answer is kept up to the limit instead (test_everyday_words.py).
    ["", "   ", "🙂🔥🙏", "99", "ok", "/start", "/status LPR-AAAA", "/lapor", "asdfghjkl"],
)
def test_unexpected_input_gets_a_hint_and_the_same_question(db: Database, message: str) -> None:
    chat = Chat(db)
    chat.say("lapor", "tawuran", "karangrejo sumbersari jember", "ya", "kemarin")
    replies = chat.send(message)
    assert len(replies) == 2, replies
    assert "Ceritakan apa yang terjadi" in replies[-1]
    with db.transaction() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.step == "what"
        assert conversation.state["category"] == "tawuran"


@pytest.mark.parametrize("message", ["   ", "\n", " \n\t "])
def test_a_message_of_only_spaces_outside_a_report_gets_the_menu(db: Database, message: str) -> None:
    # A line break sent alone broke the step once ("Maaf, terjadi gangguan pada sistem kami").
    chat = Chat(db)
    replies = chat.send(message)
    assert replies == [replies[0]] and "Apa yang ingin Anda lakukan?" in replies[0]
    assert "Apa jenis kejadiannya?" in chat.send("lapor")[-1]


def test_a_sticker_at_a_choice_gets_a_hint(db: Database) -> None:
    chat = Chat(db)
    chat.send("lapor")
    replies = chat.send(None)
    assert "Mohon pilih salah satu" in replies[0]
    assert "Apa jenis kejadiannya?" in replies[1]


def test_cancel_works_at_any_step_and_forgets_the_draft(db: Database) -> None:
    chat = Chat(db)
    for steps in range(1, len(FULL_REPORT)):
        chat.say(*FULL_REPORT[:steps])
        assert "Laporan dibatalkan" in chat.send("/batal")[0]
        with db.transaction() as session:
            conversation = session.scalars(select(Conversation)).one()
            assert conversation.flow is None and conversation.state == {}
    assert chat.reports() == []


def test_help_explains_the_current_step_and_asks_again(db: Database) -> None:
    chat = Chat(db)
    chat.say("lapor", "1")
    replies = chat.send("/bantuan")
    assert "Tulis nama tempat selengkap mungkin" in replies[0]
    assert "Di mana kejadiannya?" in replies[1]


def test_fixing_one_answer_returns_to_the_summary(db: Database) -> None:
    chat = Chat(db)
    chat.say(*FULL_REPORT[:-1])
    assert "Jawaban mana yang ingin diubah?" in chat.send("ubah jawaban")[-1]
    assert "Kapan kejadiannya?" in chat.send("waktu")[-1]
    summary = chat.send("kemarin sore")[-1]
    assert "Waktu: kemarin sore" in summary
    assert "Kirim laporan ini?" in summary
    chat.send("kirim")
    assert chat.reports()[0].occurred == "kemarin sore"


def test_fixing_the_place_goes_through_confirmation_then_back_to_the_summary(db: Database) -> None:
    chat = Chat(db)
    chat.say(*FULL_REPORT[:-1], "2", "2")
    assert "Kemiri Muka, Beji, Kota Depok, Jawa Barat — benar?" in chat.send("kemiri muka beji depok")[-1]
    assert "Tempat: Kemiri Muka, Beji, Kota Depok, Jawa Barat" in chat.send("ya")[-1]


def test_danger_signs_can_be_tapped_one_by_one(db: Database) -> None:
    chat = Chat(db, channel="telegram", address="1001")
    chat.say(*FULL_REPORT[:7])
    chat.send(choice="danger:weapons")
    assert chat.labels[0].startswith("✓ ")
    chat.send(choice="danger:crowd")
    assert "kelompok rentan" in chat.send(choice="danger:_done")[-1]
    chat.say(*FULL_REPORT[8:])
    assert chat.reports()[0].danger_signs == ["weapons", "crowd"]


def test_a_photo_is_kept_as_a_document_of_the_report(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    photo = tmp_path / "in-foto.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 a photo")
    chat = Chat(db)
    chat.say(*FULL_REPORT[:9])
    sent = Media("photo", "image/jpeg", str(photo), telegram_file_id="telegram-file-id-123")
    assert "boleh menghubungi" in chat.send(media=sent)[-1]
    assert "Foto, video, atau pesan suara: foto" in chat.send("1")[-1]
    chat.send("kirim")
    [report] = chat.reports()
    with db.transaction() as session:
        document = session.get(Document, report.media[0])
        kept = (document.kind, document.telegram_file_id, document.path)
    assert report.photo_ref == f"document:{report.media[0]}"
    assert kept == ("photo", "telegram-file-id-123", str(photo.resolve()))


def test_a_redelivered_message_is_handled_once(db: Database) -> None:
    chat = Chat(db)
    from handlers.messages import Inbound

    first = Inbound("whatsapp", "+6281200000001", "SM-same", text="lapor")
    assert chat.engine.handle(first) is True
    assert chat.engine.handle(first) is False
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_a_page_with_a_message_handled_before_handles_the_others_once(db: Database) -> None:
    """The ids of a page are written together after its turns: one handled before undoes and redoes it."""
    from handlers.messages import Inbound

    engine = Chat(db).engine
    before = Inbound("whatsapp", "+6281200000001", "SM-before", text="lapor")
    assert engine.handle(before) is True
    page = [
        Inbound("whatsapp", "+6281200000002", "SM-new-1", text="lapor"),
        before,
        Inbound("whatsapp", "+6281200000002", "SM-new-1", text="lapor"),  # twice in one page
        Inbound("whatsapp", "+6281200000003", "SM-new-2", text="lapor"),
    ]
    assert engine.handle_many(page).results == [True, False, False, True]
    with db.transaction() as session:
        ids = sorted(session.scalars(select(InboundMessage.external_id)))
        replies = session.execute(select(OutboxMessage.address, func.count()).group_by(OutboxMessage.address))
        per_person = dict(replies.all())
    assert ids == ["SM-before", "SM-new-1", "SM-new-2"]
    # Each asked for the category once: nobody's message was handled twice.
    assert per_person == {"+6281200000001": 1, "+6281200000002": 1, "+6281200000003": 1}


def test_the_draft_survives_a_restart(database_url: str) -> None:
    first = Database(database_url)
    Chat(first).say(*FULL_REPORT[:5])
    first.dispose()
    again = Database(database_url)
    chat = Chat(again)
    assert "berapa orang" in chat.send(FULL_REPORT[5])[-1]
    again.dispose()


def test_status_shows_only_the_public_status(db: Database) -> None:
    reporter = Chat(db)
    reporter.say(*FULL_REPORT)
    code = reporter.reports()[0].code
    stranger = Chat(db, address="someone-else")
    reply = stranger.send(f"/status {code.lower()}")[-1]
    assert code in reply
    assert "Diterima" in reply
    for private in ("Karangrejo", "celurit", "pelajar", "warga-1"):
        assert private not in reply


def test_status_without_a_code_asks_for_it(db: Database) -> None:
    chat = Chat(db)
    assert "kode laporan" in chat.send("/status")[-1]
    assert "Bentuknya seperti LPR-7K3QX" in chat.send("halo")[0]
    assert "tidak ditemukan" in chat.send("LPR-AAAAA")[-1]


def test_start_greets_and_explains_data_protection(db: Database) -> None:
    reply = Chat(db).send("/start")[-1]
    assert "Selamat datang" in reply
    assert "tanpa menyebut nama" in reply


def test_language_switch_to_english_and_back(db: Database) -> None:
    chat = Chat(db)
    assert "Pilih bahasa" in chat.send("/bahasa")[-1]
    assert "continue in English" in chat.send("English")[-1]
    assert "What kind of incident is it?" in chat.send("/lapor")[-1]
    chat.send("/batal")
    assert "Bahasa Indonesia" in chat.send("/bahasa id")[-1]


def test_english_is_offered_once_to_someone_writing_english(db: Database) -> None:
    chat = Chat(db)
    replies = chat.send("hello, I would like to talk to somebody please")
    assert any("/bahasa en" in r for r in replies)
    replies = chat.send("please help me report something")
    assert not any("/bahasa en" in r for r in replies)


def test_a_story_in_english_is_answered_in_english(db: Database) -> None:
    chat = Chat(db)
    replies = chat.send("hello there is a fight near the market right now, two men have knives")
    assert any("continue in English" in r for r in replies)
    assert "Kind: Clash between groups" in replies[1]
    assert "Danger signs: Weapons" in replies[1]
    assert replies[-1].startswith("Where")


def test_indonesian_text_gets_no_english_offer(db: Database) -> None:
    replies = Chat(db).send("ada keributan antar warga di dekat pasar")
    assert not any("/bahasa en" in r for r in replies)


@pytest.mark.parametrize(
    "greeting", ["lapor", "Lapor", "LAPOR", "/lapor", "/lapor@pelapor_bot", "lpor", "laporan"]
)
def test_a_report_starts_however_it_is_typed(db: Database, greeting: str) -> None:
    assert "Apa jenis kejadiannya?" in Chat(db).send(greeting)[-1]


def test_a_step_that_breaks_keeps_the_draft_and_asks_again(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from handlers import report

    chat = Chat(db)
    chat.say(*FULL_REPORT[:6])

    def broken(turn):  # type: ignore[no-untyped-def]
        turn.state["people"] = "half-written"
        raise RuntimeError("a bug in a step")

    monkeypatch.setitem(report.FLOW.steps, "people", report.Step("people", report.ask_people, broken, "x"))
    replies = chat.send("2")
    assert "gangguan pada sistem" in replies[0]
    assert "berapa orang" in replies[-1]
    with db.transaction() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.step == "people"
        assert "people" not in conversation.state
        assert conversation.state["description"] == FULL_REPORT[5]
    monkeypatch.undo()
    assert "tanda bahaya" in chat.send("2")[-1]


def test_a_step_that_breaks_in_a_page_of_messages_costs_the_others_nothing(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from handlers import report
    from handlers.messages import Inbound

    first, second, third = (Chat(db, address=f"warga-{n}") for n in (1, 2, 3))
    for chat in (first, second, third):
        chat.say(*FULL_REPORT[:6])

    def broken(turn):  # type: ignore[no-untyped-def]
        if turn.inbound.address == second.address:
            turn.state["people"] = "half-written"
            raise RuntimeError("a bug in a step")
        return report.take_people(turn)

    step = report.FLOW.steps["people"]
    monkeypatch.setitem(report.FLOW.steps, "people", report.Step("people", step.ask, broken, step.help_key))
    # One transaction for the three, as a page of Telegram updates or the webhook inbox hands them over.
    page = [
        Inbound("console", chat.address, f"page-{chat.address}", text="sekitar 20")
        for chat in (first, second, third)
    ]
    handled = first.engine.handle_many(page)
    assert handled.results == [True, True, True] and handled.failure is None
    assert "tanda bahaya" in first.replies()[-1]
    told = second.replies()
    assert "gangguan pada sistem" in told[0] and "berapa orang" in told[-1]
    assert "tanda bahaya" in third.replies()[-1]
    with db.transaction() as session:
        steps = {c.address: (c.step, c.state.get("people")) for c in session.scalars(select(Conversation))}
        handled_ids = session.scalar(select(func.count()).select_from(InboundMessage)) or 0
    assert steps[second.address] == ("people", None)  # the draft as it was, asked again
    assert steps[first.address][1] == steps[third.address][1] == "group"
    assert handled_ids == 3 * 6 + 3  # the broken one's id is kept too: it was answered, not to come again


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("senjata, korban luka", ["weapons", "injuries"]),
        ("1 2", ["weapons", "injuries"]),
        ("korban luka dan krusakan", ["injuries", "damage"]),
        ("Ada kerusakan rumah, kendaraan, atau bangunan", ["damage"]),
        ("tidak ada", []),
    ],
)
def test_several_danger_signs_typed_in_one_answer_are_all_kept(
    db: Database, typed: str, stored: list[str]
) -> None:
    chat = Chat(db)
    chat.say(*FULL_REPORT[:7])
    assert "kelompok rentan" in chat.send(typed)[-1]
    chat.say(*FULL_REPORT[8:])
    assert chat.reports()[0].danger_signs == stored


@pytest.mark.parametrize("in_one_page", [False, True])
def test_a_report_code_drawn_twice_is_drawn_again(
    db: Database, monkeypatch: pytest.MonkeyPatch, in_one_page: bool
) -> None:
    """Codes are random and short enough to read out: the database refuses a repeat, and another is drawn."""
    from handlers import report
    from handlers.messages import Inbound

    drawn = iter(["LPR-AAAAA", "LPR-AAAAA", "LPR-CCCCC"])
    monkeypatch.setattr(report, "new_code", lambda: next(drawn))
    first, second = Chat(db, address="+6281200000021"), Chat(db, address="+6281200000022")
    first.say(*FULL_REPORT[:-1])
    second.say(*FULL_REPORT[:-1])
    if in_one_page:
        page = [
            Inbound("console", chat.address, f"send-{chat.address}", text="kirim") for chat in (first, second)
        ]
        assert first.engine.handle_many(page).results == [True, True]
        told = first.replies(), second.replies()
    else:
        told = first.send("kirim"), second.send("kirim")

    assert [r.code for r in first.reports()] == ["LPR-AAAAA", "LPR-CCCCC"]
    assert "LPR-AAAAA" in told[0][-1]
    assert "LPR-CCCCC" in told[1][-1]


def test_a_page_with_a_sender_that_cannot_be_real_handles_the_others(db: Database) -> None:
    """Conversations are created for a page's new senders together: only for those whose message is taken."""
    from handlers.messages import Inbound

    engine = Chat(db).engine
    page = [
        Inbound("whatsapp", "+6281200000031", "SM-real-1", text="lapor"),
        Inbound("whatsapp", "x" * 500, "SM-too-long", text="lapor"),
        Inbound("whatsapp", "+6281200000032", "SM-real-2", text="lapor"),
    ]

    assert engine.handle_many(page).results == [True, False, True]
    with db.transaction() as session:
        addresses = sorted(session.scalars(select(Conversation.address)))
    assert addresses == ["+6281200000031", "+6281200000032"]
