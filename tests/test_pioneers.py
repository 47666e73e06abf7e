"""Pioneers, forum members and coordinators by chat: joining by invitation, checking in, carrying a report.

Each test is a conversation as the people involved would have it, checked by what each of them reads
and by what is in the database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from chat import FULL_REPORT, Chat
from sqlalchemy import select

from handlers.alerts.policy import Policy
from handlers.messages import Inbound
from handlers.pioneers import checkins, invitations
from handlers.schedule import due_round, fire_due_timers
from models.base import utcnow
from models.db import Database
from models.tables import Checkin, Contact, Invitation, OutboxMessage, Report, ReportEvent

POLICY = Policy(checkin_reminder_hours=24, followup_hours=24, followup_escalate_after=3)


def invite(db: Database, role: str = "koordinator", region: str = "35.09", ttl_hours: int = 72) -> str:
    """An invitation as `python -m bot invite` makes it; the code as people read it."""
    with db.transaction() as session:
        made = invitations.create(session, role=role, region_code=region, now=utcnow(), ttl_hours=ttl_hours)
        return invitations.shown(made.code)


def join(chat: Chat, code: str, name: str) -> list[str]:
    """Use a code, give a name, confirm the region; what the bot said last."""
    chat.send(f"/daftar {code}")
    chat.send(name)
    return chat.send("ya")


def contact(db: Database, name: str) -> Contact:
    with db.transaction() as session:
        found = session.scalars(select(Contact).where(Contact.name == name)).one()
        session.expunge(found)
        return found


def code_in(replies: list[str]) -> str:
    """The invitation code in the bot's answer."""
    for reply in replies:
        for word in reply.replace("\n", " ").split():
            if len(word) == 9 and word[4] == "-" and word.replace("-", "").isalnum() and word.isupper():
                return word
    raise AssertionError(replies)


@pytest.fixture
def coordinator(db: Database) -> Chat:
    chat = Chat(db, channel="telegram", address="900")
    assert (
        "Anda sekarang terdaftar sebagai koordinator untuk Kabupaten Jember"
        in join(chat, invite(db), "Bu Ani")[-1]
    )
    return chat


def test_a_coordinator_invites_a_pioneer_who_joins_on_whatsapp(db: Database, coordinator: Chat) -> None:
    replies = coordinator.send("/undang pelopor 35.09.21")
    assert replies[0].startswith(
        "Kode undangan untuk Pelopor Perdamaian wilayah Sumbersari, Kabupaten Jember"
    )
    assert "DAFTAR" in replies[1] and "Telegram atau WhatsApp" in replies[1]
    code = code_in(replies)

    pioneer = Chat(db, channel="whatsapp", address="+6281230000001")
    assert "Siapa nama Anda?" in pioneer.send(f"daftar {code.lower().replace('-', '')}")[-1]
    assert "Sumbersari, Kabupaten Jember, Jawa Timur — benar?" in pioneer.send("Pak Budi")[-1]
    assert "terdaftar sebagai Pelopor Perdamaian" in pioneer.send("iya")[-1]
    budi = contact(db, "Pak Budi")
    assert (budi.role, budi.region_code, budi.whatsapp, budi.active) == (
        "pelopor",
        "35.09.21",
        "+6281230000001",
        True,
    )

    again = Chat(db, channel="telegram", address="777")
    assert "sudah dipakai" in again.send(f"/daftar {code}")[-1]


def test_invitations_stay_inside_the_coordinators_region(db: Database, coordinator: Chat) -> None:
    assert (
        "hanya dapat mengundang untuk wilayah Anda sendiri" in coordinator.send("/undang pelopor 35.10")[-1]
    )
    assert "Tulis: /undang PERAN WILAYAH" in coordinator.send("/undang kepala 35.09.21")[-1]
    assert code_in(coordinator.send("/undang fkdm kec sumbersari jember"))


def test_nobody_else_learns_the_coordinators_commands_exist(db: Database) -> None:
    citizen = Chat(db, channel="telegram", address="555")
    unknown = citizen.send("/perintahngawur")
    assert citizen.send("/undang pelopor 35.09") == unknown
    assert "/undang" not in citizen.send("/bantuan")[0]
    with db.transaction() as session:
        assert session.scalars(select(Invitation)).all() == []


def test_help_lists_what_each_role_may_use(db: Database, coordinator: Chat) -> None:
    code = code_in(coordinator.send("/undang pelopor 35.09.21"))
    pioneer = Chat(db, channel="telegram", address="301")
    join(pioneer, code, "Pak Budi")
    for_pioneer = pioneer.send("/bantuan")[0]
    assert "/checkin" in for_pioneer and "/tindak KODE" in for_pioneer and "/undang" not in for_pioneer
    for_coordinator = coordinator.send("/bantuan")[0]
    assert "/undang PERAN WILAYAH" in for_coordinator and "/cekwilayah" in for_coordinator
    assert "/checkin" not in for_coordinator
    english = Chat(db, channel="telegram", address="302")
    english.send("/bahasa en")
    assert "Commands you can use" in english.send("/bantuan")[0]


def test_leaving_and_a_command_in_one_page_of_messages_know_the_pioneer_has_left(
    db: Database, coordinator: Chat
) -> None:
    """A `getUpdates` answer or a webhook batch is one transaction: what changed in it counts in it."""
    pioneer = Chat(db, channel="telegram", address="303")
    join(pioneer, code_in(coordinator.send("/undang pelopor 35.09.21")), "Pak Budi")
    page = [
        Inbound("telegram", "303", f"page-{n}", text=text) for n, text in enumerate(["/keluar", "/bantuan"])
    ]

    handled = pioneer.engine.handle_many(page)

    assert handled.failure is None and handled.results == [True, True]
    for_someone_who_left = pioneer.replies()[-1]
    assert "Perintah yang dapat Anda gunakan" in for_someone_who_left
    assert "/checkin" not in for_someone_who_left and "/tindak KODE" not in for_someone_who_left


def test_joining_and_a_command_in_one_page_of_messages_know_the_new_pioneer(
    db: Database, coordinator: Chat
) -> None:
    """The page's contacts are read once; a contact written in the page is looked up again after it."""
    code = code_in(coordinator.send("/undang pelopor 35.09.21"))
    citizen = Chat(db, channel="telegram", address="305")
    texts = [f"/daftar {code}", "Pak Budi", "ya", "/bantuan"]
    page = [Inbound("telegram", "305", f"join-{n}", text=text) for n, text in enumerate(texts)]
    page.insert(2, Inbound("telegram", "306", "someone-else", text="/bantuan"))

    handled = citizen.engine.handle_many(page)

    assert handled.failure is None and handled.results == [True] * 5
    assert "/checkin" in citizen.replies()[-1]  # a pioneer now, in the same page
    assert "/checkin" not in Chat(db, channel="telegram", address="306").replies()[-1]


def test_a_pioneer_writing_first_among_citizens_in_one_page_is_known(db: Database, coordinator: Chat) -> None:
    pioneer = Chat(db, channel="telegram", address="307")
    join(pioneer, code_in(coordinator.send("/undang pelopor 35.09.21")), "Pak Budi")
    page = [
        Inbound("telegram", address, f"first-{address}", text="/bantuan") for address in ("308", "307", "309")
    ]

    handled = pioneer.engine.handle_many(page)

    assert handled.failure is None and handled.results == [True] * 3
    assert "/checkin" in pioneer.replies()[-1]
    assert "/checkin" not in Chat(db, channel="telegram", address="309").replies()[-1]


def test_a_pioneer_who_joins_between_two_reports_in_one_page_gets_the_second(db: Database) -> None:
    """A page's reports about one place read its contacts once; one who joins in the page is read again."""
    code = invite(db, "pelopor", "35.09.21")
    first, second = Chat(db, channel="telegram", address="401"), Chat(db, channel="telegram", address="402")
    for chat in (first, second):
        chat.say(*FULL_REPORT[:-1])
    pioneer = Chat(db, channel="telegram", address="403")
    pioneer.say(f"/daftar {code}", "Pak Budi")
    page = [
        Inbound("telegram", "401", "send-401", text="kirim"),
        Inbound("telegram", "403", "join-403", text="iya"),
        Inbound("telegram", "402", "send-402", text="kirim"),
    ]

    handled = first.engine.handle_many(page)

    assert handled.failure is None and handled.results == [True] * 3
    assert "belum ada petugas yang terdaftar" in first.replies()[-1]
    assert "diteruskan kepada petugas" in second.replies()[-1]
    [alert] = pioneer.replies()[1:]
    assert second.reports()[-1].code in alert and first.reports()[0].code not in alert


def test_expired_and_guessed_codes_are_refused_and_guessing_is_throttled(db: Database) -> None:
    stale = invite(db, "pelopor", "35.09.21", ttl_hours=-1)
    guesser = Chat(db, channel="telegram", address="666")
    assert "sudah tidak berlaku" in guesser.send(f"/daftar {stale}")[-1]
    for attempt in range(4):
        assert "tidak kami kenal" in guesser.send(f"/daftar ZZZZ-ZZZ{attempt}")[-1]
    good = invite(db, "pelopor", "35.09.21")
    assert "coba lagi satu jam lagi" in guesser.send(f"/daftar {good}")[-1]
    with db.transaction() as session:
        assert session.scalars(select(Contact)).all() == []
    someone_else = Chat(db, channel="telegram", address="667")
    assert "Siapa nama Anda?" in someone_else.send(f"/daftar {good}")[-1]


def test_one_person_links_telegram_and_whatsapp(db: Database, coordinator: Chat) -> None:
    replies = coordinator.send("/hubungkan")
    code = code_in(replies)
    assert "WhatsApp" in replies[0]
    on_whatsapp = Chat(db, channel="whatsapp", address="+6281230000099")
    assert "terhubung dengan akun petugas Anda" in on_whatsapp.send(f"DAFTAR {code}")[-1]
    ani = contact(db, "Bu Ani")
    assert (ani.telegram_chat_id, ani.whatsapp) == ("900", "+6281230000099")
    with db.transaction() as session:
        assert len(session.scalars(select(Contact)).all()) == 1


def test_leaving_and_being_deactivated(db: Database, coordinator: Chat) -> None:
    pioneer = Chat(db, channel="telegram", address="301")
    join(pioneer, code_in(coordinator.send("/undang pelopor 35.09.21")), "Pak Budi")
    other = Chat(db, channel="telegram", address="302")
    join(other, code_in(coordinator.send("/undang fkdm 35.09.21")), "Bu Citra")
    assert "sudah dinonaktifkan" in coordinator.send("/nonaktifkan Pak Budi")[-1]
    assert not contact(db, "Pak Budi").active
    assert "tidak akan menerima peringatan lagi" in other.send("/keluar")[-1]
    assert not contact(db, "Bu Citra").active
    assert other.send("/tugas") == other.send("/perintahngawur")  # no longer a contact


def pioneers(db: Database, coordinator: Chat, *names: str) -> list[Chat]:
    chats = []
    for n, name in enumerate(names):
        chat = Chat(db, channel="telegram", address=f"30{n}")
        join(chat, code_in(coordinator.send("/undang pelopor 35.09.21")), name)
        chat.replies()
        chats.append(chat)
    coordinator.replies()
    return chats


def test_a_check_in_round_rawan_reaches_the_coordinator_and_offers_a_report(
    db: Database, coordinator: Chat
) -> None:
    budi, dewi = pioneers(db, coordinator, "Pak Budi", "Bu Dewi")
    assert "dikirim kepada 2 pelopor di Sumbersari" in coordinator.send("/cekwilayah 35.09.21")[-1]
    [question] = budi.replies()
    assert "Bagaimana keadaan wilayah Sumbersari" in question and budi.labels == ["Aman", "Waspada", "Rawan"]
    assert "Ada catatan singkat?" in dewi.send("aman")[-1]
    assert "Terima kasih" in dewi.send("ga ada")[-1]
    coordinator.send("/cekwilayah 35.09.21")
    dewi.replies()
    assert dewi.send("Waspada pak, ada spanduk provokatif di balai desa") == ["Terima kasih atas kabarnya."]

    assert "Tercatat: Rawan" in budi.send(choice="checkin:rawan")[-1]
    told = coordinator.replies()
    assert told == ["⚠️ Pak Budi menyatakan wilayah Sumbersari, Kabupaten Jember, Jawa Timur RAWAN."]
    assert "membuat laporan sekarang?" in budi.send("pemuda dua dusun mulai kumpul bawa bambu")[-1]
    assert "Catatan Pak Budi" in coordinator.replies()[0]
    assert "Apa jenis kejadiannya?" in budi.send("1")[-1]
    assert "Kapan kejadiannya?" in budi.send("bentrok")[-1]  # the place is the pioneer's own region
    with db.transaction() as session:
        answers = [(c.answer, c.note) for c in session.scalars(select(Checkin))]
    assert sorted(answers) == [
        ("aman", None),
        ("rawan", "pemuda dua dusun mulai kumpul bawa bambu"),
        ("waspada", "Waspada pak, ada spanduk provokatif di balai desa"),
    ]


def test_a_silent_pioneer_is_reminded_then_missed_and_the_silent_area_told(
    db: Database, coordinator: Chat
) -> None:
    [budi] = pioneers(db, coordinator, "Pak Budi")
    coordinator.send("/cekwilayah")
    budi.replies()
    coordinator.replies()
    fire_due_timers(db, now=utcnow() + timedelta(hours=23), policy=POLICY)
    assert budi.replies() == []
    fire_due_timers(db, now=utcnow() + timedelta(hours=25), policy=POLICY)
    assert "Pengingat, Pak Budi" in budi.replies()[0]
    fire_due_timers(db, now=utcnow() + timedelta(hours=50), policy=POLICY)
    with db.transaction() as session:
        assert session.scalars(select(Checkin.answer)).one() == "missed"
    assert "tidak satu pun pelopor menjawab" in coordinator.replies()[-1]


def citizen_report(db: Database) -> tuple[Chat, str]:
    citizen = Chat(db, channel="whatsapp", address="+6281299990000")
    citizen.say(
        "lapor",
        "tawuran",
        "desa karangrejo kec sumbersari jember",
        "ya",
        "hari ini",
        "pelajar dua sekolah saling ejek di media sosial",
        "puluhan",
        "ga ada",
        "ga ada",
        "lewati",
        "anonim",
    )
    replies = citizen.send("kirim")
    code = next(w for r in replies for w in r.split() if w.startswith("LPR-")).strip(".")
    return citizen, code


def test_a_pioneer_carries_a_report_to_its_end_and_the_reporter_hears_each_step(
    db: Database, coordinator: Chat
) -> None:
    [budi] = pioneers(db, coordinator, "Pak Budi")
    citizen, code = citizen_report(db)
    budi.replies()
    budi.send(choice=f"ack:{code}")
    assert "sedang ditangani petugas" in citizen.replies()[-1]
    assert code in budi.send("/tugas")[0] and budi.labels == [f"Perbarui {code}"]

    steps = [
        ("Sudah diperiksa, kejadian benar", "verified", "sudah memeriksa di lapangan, dan kejadiannya benar"),
        ("Sedang ditangani", "handling", "sedang menangani kejadian ini"),
        ("Selesai", "closed", "penanganan sudah selesai"),
    ]
    for label, status, heard in steps:
        asked = budi.send(choice=f"cmd:act:{code}")
        assert label in budi.labels, (asked, budi.labels)
        budi.send(str(budi.labels.index(label) + 1))
        assert "Tercatat" in budi.send(f"catatan {status}: sudah bertemu tokoh kedua kampung")[-1]
        [news] = citizen.replies()
        assert heard in news and "Budi" not in news
        assert citizen.send(f"status {code}")
    with db.transaction() as session:
        report = session.scalars(select(Report).where(Report.code == code)).one()
        events = session.scalars(
            select(ReportEvent.status).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)
        ).all()
    assert report.status == "closed" and events == ["acknowledged", "verified", "handling", "closed"]
    assert "tidak ada laporan" in budi.send("/tugas")[-1]
    assert "sudah selesai" in budi.send(f"tindak {code}")[-1]


def test_only_the_holder_moves_a_report(db: Database, coordinator: Chat) -> None:
    budi, dewi = pioneers(db, coordinator, "Pak Budi", "Bu Dewi")
    _, code = citizen_report(db)
    budi.send(f"tangani {code}")
    assert f"{code} tidak sedang Anda tangani" in dewi.send(f"/tindak {code}")[-1]


def test_the_holder_is_reminded_and_the_coordinators_told_after_three(
    db: Database, coordinator: Chat
) -> None:
    [budi] = pioneers(db, coordinator, "Pak Budi")
    _, code = citizen_report(db)
    budi.send(f"tangani {code}")
    budi.replies()
    coordinator.replies()
    for day in (1, 2, 3):
        fire_due_timers(db, now=utcnow() + timedelta(hours=24 * day + 1), policy=POLICY)
        assert f"laporan {code}" in budi.replies()[-1]
    told = coordinator.replies()
    assert any(f"Laporan {code}" in t and "Pak Budi setelah 3 pengingat" in t for t in told), told


def test_a_round_runs_once_however_many_processes_look(db: Database) -> None:
    start = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    with db.transaction() as session:
        assert due_round(session, "checkin", "0 8 * * *", start) is None  # first seen: counting starts
    later = start + timedelta(days=1, hours=2)  # 09.00 WIB the next day: two rounds passed, one is run
    with db.transaction() as first:
        due = due_round(first, "checkin", "0 8 * * *", later)
    with db.transaction() as second:
        assert due_round(second, "checkin", "0 8 * * *", later) is None
    assert due is not None and (due.hour, due.utcoffset()) == (8, timedelta(hours=7))  # 08.00 WIB, once
    much_later = start + timedelta(days=4, hours=14, minutes=30)  # 21.30 WIB: the 08.00 round is 13 h late
    with db.transaction() as session:
        assert due_round(session, "checkin", "0 8 * * *", much_later) is None  # past ROUND_GRACE: skipped


def test_whatsapp_pioneers_outside_the_window_get_the_check_in_as_the_template(db: Database) -> None:
    with db.transaction() as session:
        session.add_all(
            [
                Contact(name="Pak Wahyu", role="pelopor", region_code="35.09.21", whatsapp="+6281230000201"),
                Contact(name="Bu Yanti", role="pelopor", region_code="35.09.22", whatsapp="+6281230000202"),
            ]
        )
    template = "HX" + "c" * 32
    with db.transaction() as session:
        checkins.ask_everyone(session, "35.09.21", now=utcnow(), policy=Policy(checkin_template=template))
        checkins.ask_everyone(session, "35.09.22", now=utcnow(), policy=Policy())
    with db.transaction() as session:
        rows = {
            m.address: m
            for m in session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "checkin"))
        }
        wahyu, yanti = rows["+6281230000201"], rows["+6281230000202"]
        assert (wahyu.template_sid, wahyu.template_variables) == (
            template,
            {"1": "Pak Wahyu", "2": "Sumbersari, Kabupaten Jember, Jawa Timur"},
        )
        assert wahyu.priority == 3 and wahyu.status == "pending"
        assert yanti.status == "failed" and "TWILIO_TEMPLATE_CHECKIN" in yanti.last_error


def test_a_report_found_false_is_told_so_and_can_still_be_closed(db: Database, coordinator: Chat) -> None:
    [budi] = pioneers(db, coordinator, "Pak Budi")
    citizen, code = citizen_report(db)
    budi.send(f"TANGANI {code}")
    citizen.replies()
    budi.send(f"TINDAK {code}")
    assert budi.labels == [
        "Sudah diperiksa, kejadian benar",
        "Sudah diperiksa, kejadian tidak ditemukan",
        "Sedang ditangani",
        "Selesai",
    ]
    budi.send("tidak ditemukan")
    budi.send("Sudah dicek ke lokasi, hanya salah paham di grup WA")
    [news] = citizen.replies()
    assert "kejadiannya tidak ditemukan" in news and "salah paham" not in news
    budi.send(f"TINDAK {code}")
    assert budi.labels == ["Selesai"]


def test_a_second_invitation_on_the_other_channel_links_the_same_person(
    db: Database, coordinator: Chat
) -> None:
    on_telegram = Chat(db, channel="telegram", address="310")
    join(on_telegram, code_in(coordinator.send("/undang pelopor 35.09.21")), "Pak Budi")
    on_whatsapp = Chat(db, channel="whatsapp", address="+6281230000310")
    on_whatsapp.send(f"DAFTAR {code_in(coordinator.send('/undang pelopor 35.09.21'))}")
    on_whatsapp.send("pak budi")
    assert "terdaftar lewat Telegram. Apakah itu Anda?" in on_whatsapp.send("ya")[-1]
    assert "terhubung dengan akun petugas Anda" in on_whatsapp.send("1")[-1]
    budi = contact(db, "Pak Budi")
    assert (budi.telegram_chat_id, budi.whatsapp) == ("310", "+6281230000310")

    namesake = Chat(db, channel="whatsapp", address="+6281230000311")
    namesake.send(f"DAFTAR {code_in(coordinator.send('/undang pelopor 35.09.21'))}")
    namesake.send("Pak Budi")
    namesake.send("ya")  # the region; then there is no contact without WhatsApp by that name left
    with db.transaction() as session:
        assert len(session.scalars(select(Contact).where(Contact.name == "Pak Budi")).all()) == 2
