"""Coordinators steer their region by chat: its picture, its reports, its pioneers, a broadcast.

The permission matrix first: every coordinator command against a citizen, a pioneer, a forum member and
coordinators of a province, a regency and a district. Then each command as a coordinator uses it, checked
by what they read, what the reporter and the pioneers read, and what is in the database.
"""

from __future__ import annotations

import csv
import io
import struct
from datetime import timedelta

import pytest
from chat import Chat
from sqlalchemy import select

from handlers.alerts.policy import Policy
from handlers.commands import table
from handlers.contacts import export_contacts
from handlers.coordinators.summary import picture
from handlers.schedule import fire_due_timers
from models.base import utcnow
from models.db import Database
from models.tables import AuditEntry, Checkin, Contact, Document, OutboxMessage, Report, ReportEvent

PEOPLE = [
    # name, role, region, telegram chat id
    ("Koordinator Jatim", "koordinator", "35", "9035"),
    ("Koordinator Jember", "koordinator", "35.09", "9009"),
    ("Koordinator Sumbersari", "koordinator", "35.09.21", "9021"),
    ("Pak Budi", "pelopor", "35.09.21", "3001"),
    ("Bu Dewi", "pelopor", "35.09.21", "3002"),
    ("Budi Santoso", "pelopor", "35.09.20", "3003"),
    ("FKDM Sumbersari", "fkdm", "35.09.21", "4001"),
    ("Pelopor Lumajang", "pelopor", "35.08.01", "3004"),
]
COMMANDS = [
    "/ringkasan",
    "/laporan {code}",
    "/terbuka",
    "/tugaskan {code} Budi",
    "/tutup {code} sudah damai",
    "/pelopor",
    "/siaran 35.09.21 mohon pantau malam ini",
    "/siaran+ 35.09.21 mohon pantau malam ini",
    "/ekspor",
    "/grafik 35.09 14",
]


@pytest.fixture
def people(db: Database) -> dict[str, Chat]:
    with db.transaction() as session:
        session.add_all(
            Contact(name=name, role=role, region_code=region, telegram_chat_id=chat)
            for name, role, region, chat in PEOPLE
        )
    return {name: Chat(db, channel="telegram", address=chat) for name, _, _, chat in PEOPLE}


def file_report(
    db: Database,
    address: str = "+6281299990000",
    place: str = "desa karangrejo kec sumbersari jember",
    contact: str = "anonim",
) -> str:
    citizen = Chat(db, channel="whatsapp", address=address)
    citizen.say(
        "lapor", "tawuran", place, "ya", "hari ini", "pelajar dua sekolah saling ejek di media sosial",
        "puluhan", "ga ada", "ga ada", "lewati", contact,
    )  # fmt: skip
    replies = citizen.send("kirim")
    return next(w for r in replies for w in r.split() if w.startswith("LPR-")).strip(".")


@pytest.mark.parametrize("command", COMMANDS)
def test_only_coordinators_may_and_nobody_else_learns_the_command_exists(
    db: Database,
    people: dict[str, Chat],
    command: str,
    tmp_path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.chdir(tmp_path)  # exports and charts are written under ./media
    code = file_report(db)
    typed = command.format(code=code)
    unknown = Chat(db, channel="telegram", address="5554").send("/perintahngawur")
    for chat in (people["Pak Budi"], people["FKDM Sumbersari"], Chat(db, channel="telegram", address="5555")):
        chat.replies()
        answer = chat.send(typed)
        if typed.startswith("/laporan"):  # "laporan" starts a report for everyone else; nothing is shown
            assert "Apa jenis kejadiannya?" in answer[-1] and "saling ejek" not in " ".join(answer)
        else:
            assert answer == unknown, (chat.address, typed, answer)
    for name in ("Koordinator Jatim", "Koordinator Jember", "Koordinator Sumbersari"):
        chat = people[name]
        chat.replies()
        answer = " ".join(chat.send(typed))
        assert "tidak dikenal" not in answer, (name, typed, answer)


ROLES = {None: "5556", "pelopor": "3001", "fkdm": "4001", "koordinator": "9009"}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("row", table.ROWS, ids=lambda row: row.name)
def test_every_command_against_every_role(  # type: ignore[no-untyped-def]
    db: Database, people: dict[str, Chat], row, role, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # exports and charts are written under ./media
    chat = Chat(db, channel="telegram", address=ROLES[role])
    unknown = Chat(db, channel="telegram", address="5557").send("/perintahngawur")
    answer = chat.send(f"/{row.words['id'][0]}")
    allowed = (role or table.CITIZEN) in row.roles
    if row.name == "detail" and not allowed:
        # "laporan" is also the word that starts a report, which is what everyone else gets.
        assert "Apa jenis kejadiannya?" in answer[-1]
        return
    # A command someone may not use answers exactly as one that does not exist.
    assert (answer == unknown) is (not allowed), (row.name, role, answer)


@pytest.mark.parametrize(
    "command",
    [
        "/ringkasan 35.08",
        "/terbuka 35.08",
        "/pelopor 35.08",
        "/siaran 35.08 halo",
        "/siaran+ 35.08 halo",
        "/laporan {code}",
        "/tugaskan {code} Budi",
        "/tutup {code} selesai",
        "/ekspor 35.08",
        "/grafik 35.08",
        "/cekwilayah 35.08",
        "/undang pelopor 35.08",
    ],
)
def test_a_regency_coordinator_cannot_look_into_the_next_regency(
    db: Database, people: dict[str, Chat], command: str
) -> None:
    code = file_report(db, place="kec sumbersari jember")
    jember = people["Koordinator Jember"]
    jember.replies()
    lumajang_code = file_report(db, address="+6281299990001", place="kec tempursari lumajang")
    answer = " ".join(jember.send(command.format(code=lumajang_code)))
    assert "hanya dapat" in answer or "tidak ditemukan" in answer, answer
    assert "Tempursari" not in answer and code not in answer
    sumbersari = people["Koordinator Sumbersari"]
    assert "hanya dapat" in " ".join(sumbersari.send("/ringkasan 35.09"))


def test_the_summary_adds_up(db: Database, people: dict[str, Chat]) -> None:
    codes = [file_report(db, address=f"+62812999900{n:02d}") for n in range(3)]
    file_report(db, address="+6281299990050", place="kel patrang kec patrang jember")
    people["Pak Budi"].send(f"tangani {codes[0]}")
    with db.transaction() as session:
        session.add(
            Checkin(
                contact_id=4, region_code="35.09.21", asked_at=utcnow(), answered_at=utcnow(), answer="rawan"
            )
        )
    summary = people["Koordinator Jember"].send("/ringkasan")[-1]
    assert summary.startswith("Ringkasan Kabupaten Jember, Jawa Timur, 7 hari terakhir")
    assert "Laporan: 4" in summary and "Kecamatan terbanyak: Sumbersari 3 · Patrang 1" in summary
    assert "rawan 1" in summary and len(summary.splitlines()) <= 10
    with db.transaction() as session:
        seen = picture(session, "35.09", utcnow() - timedelta(days=7))
        total = session.query(Report).count()
        levels = session.scalars(select(Report.level).where(Report.region_code.like("35.09.21%"))).all()
    assert seen.total == total == 4
    for counts in (seen.by_status, seen.by_level, seen.by_category):
        assert sum(counts.values()) == seen.total
    assert sum(seen.by_district.values()) == seen.total
    weight = {"normal": 1, "waspada": 2, "siaga": 4, "awas": 8}
    assert seen.tension["35.09.21"] == sum(weight[level] for level in levels) + 4  # Pak Budi's rawan adds 4


def test_the_detail_shows_the_timeline_and_the_reporters_contact_only_where_agreed(
    db: Database, people: dict[str, Chat]
) -> None:
    anonymous = file_report(db)
    direct = file_report(db, address="+6281299990077", contact="boleh dihubungi")
    people["Pak Budi"].send(f"tangani {anonymous}")
    shown = people["Koordinator Sumbersari"].send(f"/laporan {anonymous}")[-1]
    assert f"Laporan {anonymous}" in shown and "Linimasa:" in shown
    assert "peringatan ke Pak Budi (pelopor)" in shown and "oleh Pak Budi" in shown
    assert "anonim; tidak ingin dihubungi" in shown and "+62812999900" not in shown
    contactable = people["Koordinator Sumbersari"].send(f"laporan {direct}")[-1]
    assert "boleh dihubungi langsung, whatsapp +6281299990077" in contactable


def test_assigning_and_closing_tell_the_reporter_never_who(db: Database, people: dict[str, Chat]) -> None:
    code = file_report(db)
    reporter = Chat(db, channel="whatsapp", address="+6281299990000")
    reporter.replies()
    coordinator = people["Koordinator Jember"]
    asked = coordinator.send(f"/tugaskan {code} Budi")[-1]
    assert "Ada beberapa pelopor" in asked and coordinator.labels == ["4 Pak Budi", "6 Budi Santoso"]
    assert "sekarang ditangani oleh Pak Budi" in coordinator.send(choice=f"cmd:assign:{code} 4")[-1]
    assert any(
        f"ditugaskan koordinator untuk menangani laporan {code}" in t for t in people["Pak Budi"].replies()
    )
    [told] = reporter.replies()
    assert "sedang ditangani petugas" in told and "Budi" not in told
    assert "ditutup" in coordinator.send(f"/tutup {code} sudah dimediasi, kedua pihak sepakat")[-1]
    [closed] = reporter.replies()
    assert "penanganan sudah selesai" in closed and "dimediasi" not in closed
    with db.transaction() as session:
        events = session.execute(select(ReportEvent.status, ReportEvent.assigned_to, ReportEvent.note)).all()
        audit = session.scalars(select(AuditEntry.command)).all()
    assert [e.status for e in events] == ["acknowledged", "acknowledged", "closed"]
    assert events[1].assigned_to == 4 and events[2].note == "sudah dimediasi, kedua pihak sepakat"
    assert audit == ["assign", "assign", "close"]


def test_open_reports_come_in_pages_oldest_first(db: Database, people: dict[str, Chat]) -> None:
    codes = [file_report(db, address=f"+628129999{n:04d}") for n in range(12)]
    coordinator = people["Koordinator Sumbersari"]
    first = coordinator.send("/terbuka")[-1]
    assert (
        "Laporan terbuka di Sumbersari, Kabupaten Jember, Jawa Timur: 12" in first
        and "(halaman 1/2)" in first
    )
    assert first.index(codes[0]) < first.index(codes[9]) and codes[10] not in first
    second = coordinator.send(choice=coordinator.last_choices[-1][0])[-1]
    assert "(halaman 2/2)" in second and codes[11] in second


def test_the_roster_and_a_broadcast_with_its_summary(db: Database, people: dict[str, Chat]) -> None:
    coordinator = people["Koordinator Sumbersari"]
    roster = coordinator.send("/pelopor")[-1]
    assert "Pelopor di Sumbersari, Kabupaten Jember, Jawa Timur: 2" in roster
    assert "Pak Budi" in roster and "belum pernah memberi kabar" in roster and "Telegram" in roster
    assert (
        "Pesan sedang dikirim kepada 3 pelopor dan anggota FKDM"
        in coordinator.send("/siaran+ 35.09.21 Mohon pantau kegiatan malam ini")[-1]
    )
    assert "Mohon pantau kegiatan malam ini" in people["FKDM Sumbersari"].replies()[-1]
    with db.transaction() as session:
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "broadcast")):
            row.status = "sent"
            row.attempts = 1
    fire_due_timers(db, now=utcnow() + timedelta(minutes=6), policy=Policy())
    assert "3 penerima — terkirim 3" in coordinator.replies()[-1]


def test_the_export_matches_the_data_and_its_formula_cells_are_escaped(
    db: Database,
    people: dict[str, Chat],
    tmp_path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.chdir(tmp_path)
    codes = [file_report(db, address=f"+62812999901{n:02d}") for n in range(4)]
    file_report(db, address="+6281299990199", place="kec tempursari lumajang")  # outside Jember
    with db.transaction() as session:
        session.execute(
            Report.__table__.update()
            .where(Report.code == codes[0])
            .values(
                description='=HYPERLINK("http://x.example","klik")',
                masked_description='=HYPERLINK("http://x.example","klik")',
            )
        )
    people["Koordinator Jember"].replies()  # the alerts
    [caption] = people["Koordinator Jember"].send("/ekspor 35.09 30")
    assert "4 laporan" in caption
    with db.transaction() as session:
        document = session.scalars(select(Document)).one()
        path, name = document.path, document.filename
    assert name == "laporan-35.09-30hari.csv"
    with open(path, encoding="utf-8", newline="") as file:
        table = list(csv.reader(file))
    assert table[0][:4] == ["kode", "tanggal", "waktu_kejadian", "provinsi_kode"]
    assert table[1][:4] == ["#meta+id", "#date+reported", "#date+occurred+text", "#adm1+code"]
    body = {row[0]: row for row in table[2:]}
    assert sorted(body) == sorted(codes)
    assert body[codes[0]][-1].startswith("'=HYPERLINK")
    assert body[codes[1]][7:11] == ["35.09.21", "Sumbersari", "35.09.21.1004", "Karangrejo"]


def test_export_contacts_escapes_formula_names(db: Database) -> None:
    with db.transaction() as session:
        session.add(
            Contact(
                name='=HYPERLINK("x")', role="pelopor", region_code="35.09.21", telegram_chat_id="-1001234"
            )
        )
    out = io.StringIO()
    export_contacts(db, out)
    [row] = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    assert row[0] == '\'=HYPERLINK("x")' and row[3] == "-1001234"  # a negative chat id stays a number


def test_the_chart_is_a_png_for_a_phone_screen(
    db: Database, people: dict[str, Chat], tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    file_report(db)
    people["Koordinator Sumbersari"].replies()
    [caption] = people["Koordinator Sumbersari"].send("/grafik")
    assert caption.startswith("Grafik laporan Sumbersari")
    with db.transaction() as session:
        document = session.scalars(select(Document)).one()
    with open(document.path, "rb") as file:
        head = file.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1080, 1350)
    assert document.content_type == "image/png" and len(document.token) >= 43
