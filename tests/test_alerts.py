"""Alerts reach the right contacts for the place and level; the first to answer takes it; silence climbs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from chat import FULL_REPORT, Chat
from sqlalchemy import func, select

from config import routing
from handlers.alerts.log import deliveries
from handlers.alerts.policy import Policy
from handlers.schedule import fire_due_timers
from models.base import utcnow
from models.db import Database
from models.tables import Contact, Incident, OutboxMessage, Recipient, Report, Timer

POLICY = Policy(ack_timeout_seconds=7200, ack_timeout_urgent_seconds=1800)

# name, role, region, telegram chat id, whatsapp
CONTACTS = [
    ("Pelopor Desa", "pelopor", "35.09.21.1004", "101", None),
    ("FKDM Kecamatan", "fkdm", "35.09.21", "102", None),
    ("Pelopor Kabupaten", "pelopor", "35.09", "103", None),
    ("FKDM Provinsi", "fkdm", "35", "104", None),
    ("Koordinator Dinsos Jember", "koordinator", "35.09", "105", None),
    ("Pelopor Kecamatan Lain", "pelopor", "35.09.22", "106", None),
    ("Pelopor Banyuwangi", "pelopor", "35.10", "107", None),
    ("Pelopor Jawa Barat", "pelopor", "32", "108", None),
    ("Pelopor Nonaktif", "pelopor", "35.09.21", "109", None),
]


def add_contacts(db: Database, rows=CONTACTS) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        for name, role, region, telegram, whatsapp in rows:
            session.add(
                Contact(
                    name=name,
                    role=role,
                    region_code=region,
                    telegram_chat_id=telegram,
                    whatsapp=whatsapp,
                    active=name != "Pelopor Nonaktif",
                )
            )


def report(
    chat: Chat,
    *,
    category: str = "2",
    danger: str = "tidak ada",
    people: str = "1",
    vulnerable="tidak ada",
    description: str = "Dua kelompok pemuda saling ejek dan ada provokasi di media sosial",
) -> str:
    """File a whole report from Karangrejo, Sumbersari, Jember; returns its code."""
    chat.say(
        "lapor",
        category,
        "desa karangrejo kec sumbersari jember",
        "ya",
        "hari ini",
        description,
        people,
        danger,
        vulnerable,
        "lewati",
        "1",
    )
    done = chat.send("kirim")[-1]
    assert "Kode laporan" in done
    return chat.reports()[-1].code


def alerted(db: Database) -> dict[str, list[str]]:
    """Who got which kind of message, by contact name."""
    with db.transaction() as session:
        rows = session.execute(
            select(Contact.name, OutboxMessage.purpose)
            .join(Contact, OutboxMessage.contact_id == Contact.id)
            .order_by(OutboxMessage.id)
        )
        found: dict[str, list[str]] = {}
        for name, purpose in rows:
            found.setdefault(name, []).append(purpose)
        return found


def texts_to(db: Database, address: str) -> list[str]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(OutboxMessage.text).where(OutboxMessage.address == address).order_by(OutboxMessage.id)
            )
        )


@pytest.mark.parametrize(
    ("answers", "level", "reached"),
    [
        (
            {"description": "Warga dua dusun berbeda pendapat soal batas kebun"},
            "normal",
            {"Pelopor Desa", "FKDM Kecamatan"},
        ),
        (
            {
                "people": "2",
                "description": "Warga dua dusun berbeda pendapat soal batas kebun",
            },
            "waspada",
            {"Pelopor Desa", "FKDM Kecamatan", "Pelopor Kabupaten"},
        ),
        (
            {"danger": "1"},
            "siaga",
            {
                "Pelopor Desa",
                "FKDM Kecamatan",
                "Pelopor Kabupaten",
                "FKDM Provinsi",
                "Koordinator Dinsos Jember",
            },
        ),
        (
            {"danger": "1, 2"},
            "awas",
            {
                "Pelopor Desa",
                "FKDM Kecamatan",
                "Pelopor Kabupaten",
                "FKDM Provinsi",
                "Koordinator Dinsos Jember",
            },
        ),
    ],
)
def test_the_level_decides_how_far_up_the_alert_goes(
    db: Database, answers, level: str, reached: set[str]
) -> None:  # type: ignore[no-untyped-def]
    add_contacts(db)
    chat = Chat(db)
    report(chat, **answers)
    assert chat.reports()[0].level == level
    got = alerted(db)
    assert set(got) == reached
    assert all(kinds == ["alert"] for kinds in got.values()), "each contact gets the alert exactly once"


def test_the_alert_says_what_where_and_how_bad_but_never_who(db: Database) -> None:
    add_contacts(db)
    chat = Chat(db, channel="whatsapp", address="+6281234567890")
    code = report(chat, danger="1", vulnerable="1")
    [alert] = texts_to(db, "101")
    for expected in (
        code,
        "Tawuran",
        "SIAGA",
        "Karangrejo, Sumbersari, Kabupaten Jember, Jawa Timur",
        "WIB",
        "saling ejek",
        "Ada senjata",
        "Anak-anak",
        f"TANGANI {code}",
    ):
        assert expected in alert, expected
    for private in ("+6281234567890", "081234567890", "6281234567890"):
        assert private not in alert
    with db.transaction() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.address == "101")).one()
        assert message.choices == [[f"ack:{code}", "Saya tangani"]]


def test_the_first_to_acknowledge_takes_it_and_the_reporter_is_told(db: Database) -> None:
    add_contacts(db)
    reporter = Chat(db, channel="whatsapp", address="+6281234567890")
    code = report(reporter, danger="1")

    first = Chat(db, channel="telegram", address="102")
    assert f"Kejadian {code} sekarang Anda tangani" in first.send(choice=f"ack:{code}")[-1]
    second = Chat(db, channel="telegram", address="101")
    assert "sudah ditangani oleh FKDM Kecamatan" in second.send(choice=f"ack:{code}")[-1]
    assert "memang sedang Anda tangani" in first.send(f"tangani {code.lower()}")[-1]

    told = reporter.replies()
    assert told == [
        f"Kabar untuk laporan {code}: laporan Anda sedang ditangani petugas. Terima kasih sudah melapor."
    ]
    assert "FKDM Kecamatan" not in told[0]
    assert "Sedang ditangani petugas" in reporter.send(f"status {code}")[-1]
    with db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.acknowledged_by is not None and incident.acknowledged_at is not None
        waiting = session.scalars(select(Timer.kind).where(Timer.fired_at.is_(None))).all()
        assert waiting == ["followup"]  # no escalation left; the holder will be asked how it goes


def test_whatsapp_contacts_acknowledge_by_typing(db: Database) -> None:
    add_contacts(db, [("Pelopor WA", "pelopor", "35.09.21", None, "+6281300000001")])
    code = report(Chat(db), danger="1")
    contact = Chat(db, channel="whatsapp", address="+6281300000001")
    assert "sekarang Anda tangani" in contact.send(f"TANGANI {code}")[-1]


def test_someone_who_is_not_a_contact_cannot_acknowledge(db: Database) -> None:
    add_contacts(db)
    code = report(Chat(db), danger="1")
    stranger = Chat(db, channel="telegram", address="999")
    # Typed, it is a command they may not use, answered as one that does not exist; a "Saya tangani"
    # button forwarded to them gets a plain explanation.
    assert "tidak dikenal" in stranger.send(f"tangani {code}")[-1]
    assert "hanya petugas yang terdaftar" in stranger.send(choice=f"ack:{code}")[-1]
    with db.transaction() as session:
        assert session.scalars(select(Incident)).one().acknowledged_by is None


def test_silence_climbs_to_the_regency_then_the_province_then_the_coordinators(db: Database) -> None:
    add_contacts(db)
    report(Chat(db), description="Warga dua dusun berbeda pendapat soal batas kebun")
    assert set(alerted(db)) == {"Pelopor Desa", "FKDM Kecamatan"}
    now = utcnow()

    assert fire_due_timers(db, now=now + timedelta(seconds=7199), policy=POLICY) == 0
    assert fire_due_timers(db, now=now + timedelta(seconds=7201), policy=POLICY) == 1
    assert alerted(db)["Pelopor Kabupaten"] == ["alert"]
    assert "DITERUSKAN" in texts_to(db, "103")[0]
    assert "FKDM Provinsi" not in alerted(db)

    fire_due_timers(db, now=now + timedelta(seconds=2 * 7201), policy=POLICY)
    assert alerted(db)["FKDM Provinsi"] == ["alert"]
    fire_due_timers(db, now=now + timedelta(seconds=3 * 7201), policy=POLICY)
    assert alerted(db)["Koordinator Dinsos Jember"] == ["escalation"]
    assert "BELUM ADA YANG MENANGANI" in texts_to(db, "105")[0]
    assert fire_due_timers(db, now=now + timedelta(days=2), policy=POLICY) == 0
    got = alerted(db)
    assert (
        "Pelopor Banyuwangi" not in got
        and "Pelopor Jawa Barat" not in got
        and "Pelopor Kecamatan Lain" not in got
    )


def test_urgent_reports_use_the_short_timeout(db: Database) -> None:
    add_contacts(db)
    report(Chat(db), danger="1")
    with db.transaction() as session:
        timer = session.scalars(select(Timer).where(Timer.kind == "escalate")).one()
        incident = session.scalars(select(Incident)).one()
        assert timer.due_at - incident.first_report_at == timedelta(seconds=1800)


def test_an_urgent_report_in_the_same_page_brings_the_incidents_timer_forward(db: Database) -> None:
    """The page's first report sets the two-hour timer; an urgent one after it brings it forward."""
    from handlers.messages import Inbound

    add_contacts(db)
    calm, urgent = Chat(db, address="warga-1"), Chat(db, address="warga-2")
    for chat, danger in ((calm, "tidak ada"), (urgent, "1")):
        chat.say("lapor", "2", "desa karangrejo kec sumbersari jember", "ya", "hari ini")
        chat.say("Warga dua dusun berbeda pendapat soal batas kebun", "1", danger, "tidak ada", "lewati", "1")
    page = [Inbound("console", chat.address, f"send-{chat.address}", text="kirim") for chat in (calm, urgent)]

    assert calm.engine.handle_many(page).results == [True, True]

    with db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        waiting = session.scalars(
            select(Timer).where(Timer.kind == "escalate", Timer.fired_at.is_(None))
        ).all()
        assert (incident.report_count, incident.level) == (2, "siaga")
        assert [t.due_at - incident.first_report_at for t in waiting] == [timedelta(seconds=1800)]


def test_an_acknowledged_alert_does_not_climb(db: Database) -> None:
    add_contacts(db)
    code = report(Chat(db), description="Warga dua dusun berbeda pendapat soal batas kebun")
    Chat(db, channel="telegram", address="101").send(choice=f"ack:{code}")
    assert fire_due_timers(db, now=utcnow() + timedelta(hours=23), policy=POLICY) == 0
    assert "Pelopor Kabupaten" not in alerted(db)


def test_timers_survive_a_restart_and_fire_once(database_url: str) -> None:
    first = Database(database_url)
    add_contacts(first)
    report(Chat(first), description="Warga dua dusun berbeda pendapat soal batas kebun")
    first.dispose()

    later = utcnow() + timedelta(hours=3)
    again = Database(database_url)
    assert fire_due_timers(again, now=later, policy=POLICY) == 1
    assert fire_due_timers(again, now=later, policy=POLICY) == 0
    assert alerted(again)["Pelopor Kabupaten"] == ["alert"]
    again.dispose()


def test_two_processes_firing_at_once_fire_each_timer_once(database_url: str) -> None:
    setup = Database(database_url)
    add_contacts(setup)
    for n in range(6):
        chat = Chat(setup, address=f"warga-{n}")
        chat.say(
            "lapor",
            str(n + 1),
            "kec sumbersari jember",
            "ya",
            "hari ini",
            "Ada perselisihan antarwarga yang mulai memanas",
            "1",
            "tidak ada",
            "tidak ada",
            "lewati",
            "1",
            "kirim",
        )
    setup.dispose()
    later = utcnow() + timedelta(hours=3)
    fired: list[int] = []
    workers = [Database(database_url), Database(database_url)]
    threads = [
        threading.Thread(target=lambda d=d: fired.append(fire_due_timers(d, now=later, policy=POLICY)))
        for d in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(fired) == 6
    check = workers[0]
    with check.transaction() as session:
        kabupaten = session.scalars(select(Contact).where(Contact.name == "Pelopor Kabupaten")).one()
        alerts = session.scalar(select(func.count()).where(OutboxMessage.contact_id == kabupaten.id))
        assert alerts == 6
    for database in workers:
        database.dispose()


def test_more_reports_of_the_same_thing_become_one_incident_with_short_updates(db: Database) -> None:
    add_contacts(db)
    first = report(Chat(db, address="warga-1"))
    report(Chat(db, address="warga-2"), description="Pemuda dari dua dusun berkumpul dan saling tantang")
    report(Chat(db, address="warga-3"), description="Kelompok pemuda mulai berkumpul di lapangan desa")
    with db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.report_count == 3 and incident.reporter_count == 3
        assert incident.level == "siaga"  # three independent reporters of a tawuran that began at waspada
    got = alerted(db)
    assert got["Pelopor Desa"] == ["alert", "update", "update"]
    assert got["Pelopor Kabupaten"][0] == "alert"
    assert got["FKDM Provinsi"] == ["alert"], "the raised level reaches the province with one full alert"
    update = texts_to(db, "101")[2]
    assert update.startswith(f"Laporan ke-3 untuk kejadian {first}")


def test_reports_of_one_thing_in_a_page_that_is_taken_again_make_one_incident(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page undone by one broken step is taken again one by one: what its turns remembered is gone too."""
    from handlers import report as flow
    from handlers.messages import Inbound

    add_contacts(db)
    first, second = Chat(db, address="warga-1"), Chat(db, address="warga-2")
    for chat in (first, second):
        chat.say(*FULL_REPORT[:-1])
    broken = Chat(db, address="warga-3")
    broken.say(*FULL_REPORT[:6])

    def breaks(turn):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in a step")

    step = flow.FLOW.steps["people"]
    monkeypatch.setitem(flow.FLOW.steps, "people", flow.Step("people", step.ask, breaks, step.help_key))
    page = [
        Inbound("console", "warga-1", "send-1", text="kirim"),
        Inbound("console", "warga-3", "people-3", text="sekitar 20"),
        Inbound("console", "warga-2", "send-2", text="kirim"),
    ]

    assert first.engine.handle_many(page).results == [True, True, True]

    assert "gangguan pada sistem" in broken.replies()[0]
    with db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        linked = session.scalars(select(Report.incident_id)).all()
        assert (incident.report_count, linked) == (2, [incident.id, incident.id])
    assert alerted(db)["Pelopor Desa"] == ["alert", "update"]
    assert "diteruskan kepada petugas" in first.replies()[-1] and "diteruskan" in second.replies()[-1]


def test_the_same_reporter_twice_does_not_raise_the_level(db: Database) -> None:
    add_contacts(db)
    chat = Chat(db, address="warga-1")
    report(chat)
    report(chat)
    report(chat)
    with db.transaction() as session:
        incident = session.scalars(select(Incident)).one()
        assert (incident.report_count, incident.reporter_count, incident.level) == (3, 1, "waspada")


def test_a_different_category_or_place_is_a_different_incident(db: Database) -> None:
    add_contacts(db)
    report(Chat(db, address="warga-1"))
    report(Chat(db, address="warga-2"), category="5")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 2


def test_the_same_thing_after_the_incident_window_is_a_new_incident(db: Database) -> None:
    add_contacts(db)
    report(Chat(db, address="warga-1"))
    later = Chat(db, address="warga-2")
    later.engine.clock = lambda: utcnow() + timedelta(hours=routing.INCIDENT_WINDOW_HOURS, minutes=5)
    report(later)
    soon = Chat(db, address="warga-3")
    soon.engine.clock = lambda: utcnow() + timedelta(hours=routing.INCIDENT_WINDOW_HOURS + 1)
    report(soon)  # within the window of the second
    with db.transaction() as session:
        counts = sorted(session.scalars(select(Incident.report_count)).all())
    assert counts == [1, 2]


def test_whatsapp_contacts_outside_the_window_get_the_template(database_url: str) -> None:
    db = Database(database_url)
    add_contacts(db, [("Pelopor WA", "pelopor", "35.09.21", None, "+6281300000001")])
    chat = Chat(db)
    chat.engine.policy = Policy(whatsapp_template="HX" + "0" * 32)
    code = report(chat, danger="1")
    with db.transaction() as session:
        message = session.scalars(
            select(OutboxMessage).where(OutboxMessage.address == "+6281300000001")
        ).one()
        assert message.channel == "whatsapp" and message.status == "pending"
        assert message.template_sid == "HX" + "0" * 32
        assert message.template_variables["1"] == code
        assert message.template_variables["4"] == "Karangrejo, Sumbersari, Kabupaten Jember, Jawa Timur"
    db.dispose()


def test_whatsapp_contacts_inside_the_window_get_the_full_text(db: Database) -> None:
    add_contacts(db, [("Pelopor WA", "pelopor", "35.09.21", None, "+6281300000001")])
    Chat(db, channel="whatsapp", address="+6281300000001").send("halo")
    report(Chat(db), danger="1")
    with db.transaction() as session:
        message = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.address == "+6281300000001", OutboxMessage.purpose == "alert"
            )
        ).one()
        assert message.template_sid is None and "PERINGATAN DINI" in message.text


def test_without_a_template_or_telegram_the_delivery_fails_with_the_reason(db: Database) -> None:
    add_contacts(db, [("Pelopor WA", "pelopor", "35.09.21", None, "+6281300000001")])
    code = report(Chat(db), danger="1")
    incident, rows = None, []
    with db.transaction() as session:
        incident, rows = deliveries(session, code)
    assert incident is not None
    [row] = rows
    assert (row.contact, row.status) == ("Pelopor WA", "failed")
    assert "24-hour window" in (row.error or "")


def test_an_unreachable_telegram_contact_gets_whatsapp_instead(db: Database) -> None:
    add_contacts(db, [("Pelopor Dua Kanal", "pelopor", "35.09.21", "201", "+6281300000002")])
    with db.transaction() as session:
        session.scalars(select(Contact)).one().unreachable_reason = "telegram 403: blocked"
    Chat(db, channel="whatsapp", address="+6281300000002").send("halo")
    report(Chat(db), danger="1")
    with db.transaction() as session:
        [alert] = session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "alert")).all()
        assert (alert.channel, alert.address) == ("whatsapp", "+6281300000002")


def test_coordinators_can_see_who_got_it_and_who_acknowledged(db: Database) -> None:
    add_contacts(db)
    code = report(Chat(db), danger="1")
    Chat(db, channel="telegram", address="101").send(choice=f"ack:{code}")
    with db.transaction() as session:
        incident, rows = deliveries(session, code)
        holder = session.get(Contact, incident.acknowledged_by)
        recipients = session.scalar(select(func.count()).select_from(Recipient))
    assert holder.name == "Pelopor Desa"
    assert len(rows) == recipients == 5
    assert {r.status for r in rows} == {"pending"}
    assert {r.channel for r in rows} == {"telegram"}


def test_report_status_of_a_linked_report_follows_the_incident(db: Database) -> None:
    add_contacts(db)
    code = report(Chat(db, address="warga-1"))
    Chat(db, channel="telegram", address="101").send(choice=f"ack:{code}")
    second = Chat(db, address="warga-2")
    second.say(
        "lapor",
        "2",
        "desa karangrejo kec sumbersari jember",
        "ya",
        "hari ini",
        "Dua kelompok pemuda saling ejek dan ada provokasi di media sosial",
        "1",
        "tidak ada",
        "tidak ada",
        "lewati",
        "1",
    )
    done, handled = second.send("kirim")
    with db.transaction() as session:
        statuses = [r.status for r in session.scalars(select(Report).order_by(Report.id))]
    assert statuses == ["acknowledged", "acknowledged"]
    assert "Kode laporan" in done
    assert handled.startswith("Kabar untuk laporan LPR-") and "sedang ditangani petugas" in handled


def test_the_alert_log_tells_coordinators_the_whole_story(database_url: str) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    db = Database(database_url)
    add_contacts(db)
    code = report(Chat(db), danger="1")
    Chat(db, channel="telegram", address="102").send(choice=f"ack:{code}")
    with db.transaction() as session:
        failed = session.scalars(select(OutboxMessage).where(OutboxMessage.address == "104")).one()
        failed.status, failed.last_error = "failed", "telegram 403: Forbidden: bot was blocked by the user"
        delivered = session.scalars(select(OutboxMessage).where(OutboxMessage.address == "101")).one()
        delivered.status, delivered.sent_at, delivered.delivery_status = "sent", utcnow(), "read"
    db.dispose()

    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "bot", "alert-log", code.lower()],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root), "DATABASE_URL": database_url},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Kejadian {code} — SIAGA, 1 laporan dari 1 pelapor"
    assert lines[1].startswith("Ditangani oleh FKDM Kecamatan sejak ") and lines[1].endswith("WIB")
    assert "• Pelopor Desa (pelopor, telegram): terkirim (read) " in result.stdout
    assert (
        "• FKDM Provinsi (fkdm, telegram): gagal: telegram 403: Forbidden: bot was blocked" in result.stdout
    )
    assert "• Koordinator Dinsos Jember (koordinator, telegram): menunggu dikirim" in result.stdout
    assert len(lines) == 2 + 5


def test_a_reporter_who_names_themselves_in_the_story_is_not_named_in_the_alert(db: Database) -> None:
    add_contacts(db)
    report(
        Chat(db),
        danger="1",
        description="Saya Budi Santoso, hubungi 0812-3456-7890. Massa menyerang warga di Jalan Melati No 5",
    )
    [alert] = texts_to(db, "101")
    assert "0812" not in alert and "Budi" not in alert
    assert "[PHONE_1]" in alert
    assert "Jalan Melati No 5" in alert, "where it happens is kept"
    with db.transaction() as session:
        assert "Budi Santoso" in session.scalars(select(Report.description)).one(), (
            "the report itself is intact"
        )


def test_each_raise_for_independent_reporters_counts_once(db: Database) -> None:
    add_contacts(db)
    levels = []
    for n in range(1, 6):
        report(Chat(db, address=f"warga-{n}"))
        with db.transaction() as session:
            levels.append(session.scalars(select(Incident.level)).one())
    # One level up for every two more independent reporters, from the reports' own level (waspada).
    assert levels == ["waspada", "waspada", "siaga", "siaga", "awas"]


def test_with_nobody_at_the_place_the_alert_climbs_at_once(db: Database) -> None:
    add_contacts(db, [("Pelopor Kabupaten", "pelopor", "35.09", "103", None)])
    chat = Chat(db)
    chat.say(
        "lapor",
        "2",
        "desa karangrejo kec sumbersari jember",
        "ya",
        "hari ini",
        "Warga dua dusun berbeda pendapat soal batas kebun",
        "1",
        "tidak ada",
        "tidak ada",
        "lewati",
        "1",
    )
    done = chat.send("kirim")[-1]
    assert chat.reports()[0].level == "normal"
    assert "diteruskan kepada petugas" in done
    assert alerted(db) == {"Pelopor Kabupaten": ["alert"]}
    assert "DITERUSKAN" in texts_to(db, "103")[0]


def test_with_nobody_registered_the_reporter_is_told_the_truth(db: Database) -> None:
    chat = Chat(db)
    chat.say(*FULL_REPORT[:-1])
    done = chat.send("kirim")[-1]
    code = chat.reports()[0].code
    assert f"Kode laporan: {code}" in done
    assert "belum ada petugas yang terdaftar" in done
    assert "diteruskan kepada petugas" not in done
    with db.transaction() as session:
        assert session.scalars(select(Incident.reach)).one() == 0
        assert session.scalar(select(func.count()).where(Timer.fired_at.is_(None))) == 0


NO_TELEGRAM = {"telegram": "telegram is not set up: TELEGRAM_BOT_TOKEN not set"}
NO_WHATSAPP = {"whatsapp": "whatsapp is not set up: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN not set"}


def test_a_channel_without_settings_is_passed_over_for_the_contacts_other_one(db: Database) -> None:
    add_contacts(
        db,
        [
            ("Pelopor Dua Kanal", "pelopor", "35.09.21", "301", "+6281300000003"),
            ("Pelopor Hanya Telegram", "pelopor", "35.09.21", "302", None),
        ],
    )
    Chat(db, channel="whatsapp", address="+6281300000003").send("halo")
    reporter = Chat(db)
    reporter.engine.policy = Policy(unavailable=NO_TELEGRAM)
    code = report(reporter, danger="1")
    with db.transaction() as session:
        _incident, rows = deliveries(session, code)
    by_name = {row.contact: row for row in rows}
    assert (by_name["Pelopor Dua Kanal"].channel, by_name["Pelopor Dua Kanal"].status) == (
        "whatsapp",
        "pending",
    )
    lost = by_name["Pelopor Hanya Telegram"]
    assert (lost.channel, lost.status) == ("telegram", "failed")
    assert "TELEGRAM_BOT_TOKEN not set" in lost.error


def test_nobody_reachable_means_the_reporter_is_not_told_it_was_passed_on(db: Database) -> None:
    add_contacts(db, [("Pelopor WA", "pelopor", "35.09", None, "+6281300000004")])
    Chat(db, channel="whatsapp", address="+6281300000004").send("halo")
    reporter = Chat(db)
    reporter.engine.policy = Policy(unavailable=NO_WHATSAPP)
    report(reporter, danger="1")
    with db.transaction() as session:
        told = session.scalars(
            select(OutboxMessage.text).where(OutboxMessage.address == "warga-1").order_by(OutboxMessage.id)
        ).all()
        assert "Kode laporan" in told[-1] and "diteruskan kepada petugas" not in told[-1]
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "alert")).all()
        assert row.status == "failed" and "TWILIO_ACCOUNT_SID" in row.last_error
        # Nobody at the first level could be reached, so the alert climbed at once.
        assert session.scalars(select(Incident)).one().reach < 3


def test_urgent_alerts_are_queued_ahead_of_normal_ones_and_replies_ahead_of_both(db: Database) -> None:
    add_contacts(db)
    report(Chat(db, address="warga-1"), danger="1")  # a danger sign: Siaga
    report(Chat(db, address="warga-2"), category="5")  # provocation, no danger sign: Waspada
    with db.transaction() as session:
        rows = session.execute(
            select(OutboxMessage.purpose, OutboxMessage.priority, Incident.level).join(
                Incident, OutboxMessage.incident_id == Incident.id
            )
        ).all()
        replies = set(session.scalars(select(OutboxMessage.priority).where(OutboxMessage.purpose == "reply")))
    assert {(level, priority) for _purpose, priority, level in rows} == {("siaga", 1), ("waspada", 2)}
    assert replies == {0}
