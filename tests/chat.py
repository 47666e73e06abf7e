"""Driving the engine like a person would, and reading back what they were sent."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from handlers.alerts.policy import Policy
from handlers.engine import Engine
from handlers.messages import Inbound
from models.db import Database
from models.tables import OutboxMessage, Report

_ids = itertools.count(1)
# A test types far faster than anyone; the per-sender limits are tested on their own (test_privacy.py).
UNLIMITED = Policy(sender_messages_per_minute=0, sender_reports_per_hour=0)


class Chat:
    """One person on one channel: `send` a message, get back the texts the bot queued for them."""

    def __init__(
        self, db: Database, channel: str = "console", address: str = "warga-1", policy: Policy = UNLIMITED
    ) -> None:
        self.db = db
        self.engine = Engine(db, policy=policy)
        self.channel = channel
        self.address = address
        self.seen = 0
        self.last_choices: list[tuple[str, str]] = []

    def send(self, text: str | None = None, **extra: object) -> list[str]:
        """Send one message; the replies it caused, in order."""
        inbound = Inbound(self.channel, self.address, f"m{next(_ids)}", text=text, **extra)  # type: ignore[arg-type]
        self.engine.handle(inbound)
        return self.replies()

    def replies(self) -> list[str]:
        with self.db.transaction() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.id > self.seen, OutboxMessage.address == self.address)
                .order_by(OutboxMessage.id)
            ).all()
            if rows:
                self.seen = rows[-1].id
                self.last_choices = [tuple(c) for c in rows[-1].choices]
            return [r.text for r in rows]

    def say(self, *texts: str) -> list[str]:
        """Several messages in a row; the replies to the last one."""
        replies: list[str] = []
        for text in texts:
            replies = self.send(text)
        return replies

    @property
    def labels(self) -> list[str]:
        return [label for _key, label in self.last_choices]

    def reports(self) -> list[Report]:
        with self.db.transaction() as session:
            return list(session.scalars(select(Report).order_by(Report.id)))


# A whole report, answer by answer, as a citizen types it on WhatsApp.
FULL_REPORT = (
    "lapor",
    "2",
    "desa karangrejo kec sumbersari jember",
    "ya",
    "tadi malam jam 9",
    "Dua kelompok pelajar saling lempar batu dan membawa celurit di dekat pasar",
    "sekitar 30 orang",
    "1, 2",
    "tidak ada",
    "lewati",
    "1",
    "kirim",
)

# A whole report in everyday words, each answer with (a piece of) the question it brings.
EVERYDAY_REPORT = (
    ("lapor", "Apa jenis kejadiannya?"),
    ("2", "Di mana kejadiannya?"),
    ("kec sumbersari jember", "benar?"),
    ("iya", "Kapan kejadiannya?"),
    ("tadi malam", "Ceritakan"),
    ("Dua kelompok pelajar saling ejek di depan sekolah", "berapa orang"),
    ("sekitar 20", "tanda bahaya"),
    ("ga ada", "kelompok rentan"),
    ("ga ada", "foto"),
    ("ga ada", "menghubungi"),
    ("anonim aja", "Kirim laporan ini?"),
    ("kirim", "Kode laporan"),
)
