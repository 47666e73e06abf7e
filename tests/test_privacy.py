"""UU PDP and floods, through the engine: erasing, RETENTION_DAYS, and the per-sender limits."""

from __future__ import annotations

from datetime import timedelta

from chat import FULL_REPORT
from servers import Clock
from sqlalchemy import select

from bot.timers import housekeep
from handlers import lifecycle
from handlers.alerts.policy import Policy
from handlers.engine import Engine
from handlers.messages import Inbound, Media
from handlers.privacy import masked_address
from models.db import Database
from models.tables import CLOSED, Contact, Conversation, Document, OutboxMessage, Report

PIONEER_CHAT = "555001"


class Person:
    """Someone writing to the engine at the engine's clock; reads what was queued for them."""

    def __init__(self, engine: Engine, db: Database, address: str, channel: str = "whatsapp") -> None:
        self.engine, self.db, self.address, self.channel = engine, db, address, channel
        self.sent = 0

    def send(self, *texts: str) -> None:
        for text in texts:
            self.sent += 1
            self.engine.handle(Inbound(self.channel, self.address, f"{self.address}-{self.sent}", text=text))

    def heard(self) -> list[str]:
        with self.db.transaction() as session:
            return list(
                session.scalars(
                    select(OutboxMessage.text)
                    .where(OutboxMessage.address == self.address)
                    .order_by(OutboxMessage.created_at, OutboxMessage.id)
                )
            )


def engine_at(db: Database, clock: Clock, **policy: int) -> Engine:
    return Engine(db, clock=clock, policy=Policy(**policy))


def report_by(person: Person, clock: Clock) -> None:
    """A whole report, one answer every 10 seconds, as a person types."""
    for answer in FULL_REPORT:
        person.send(answer)
        clock.advance(10)


def test_a_flood_from_one_sender_is_not_read_and_costs_nobody_else(db: Database) -> None:
    clock = Clock()
    engine = engine_at(db, clock, sender_messages_per_minute=20)
    flooder, neighbour = Person(engine, db, "+6281200000001"), Person(engine, db, "+6281200000002")

    flooder.send(*["halo"] * 60)
    neighbour.send("halo")
    flooded = flooder.heard()
    clock.advance(61)
    flooder.send("lapor")

    # 20 answered, then one polite notice, then silence for the rest of the minute.
    assert len(flooded) == 21
    assert "datang sangat cepat" in flooded[-1] and "110" in flooded[-1]
    assert sum("datang sangat cepat" in text for text in flooded) == 1
    # The neighbour is answered as ever; a minute later the flooder is read again.
    assert "Selamat datang" in neighbour.heard()[0]
    assert "Apa jenis kejadiannya?" in flooder.heard()[-1]


def test_a_flood_in_one_page_of_messages_is_counted_the_same(db: Database) -> None:
    """A `getUpdates` answer or a webhook batch: many messages in one transaction, the sender known."""
    clock = Clock()
    engine = engine_at(db, clock, sender_messages_per_minute=20)
    flooder, neighbour = Person(engine, db, "+6281200000011"), Person(engine, db, "+6281200000012")
    flooder.send("halo")
    neighbour.send("halo")
    page = [Inbound("whatsapp", flooder.address, f"page-{n}", text="halo") for n in range(59)]
    page.insert(30, Inbound("whatsapp", neighbour.address, "page-neighbour", text="halo"))

    handled = engine.handle_many(page)

    assert handled.failure is None and handled.results == [True] * 60
    flooded = flooder.heard()
    assert len(flooded) == 21  # the one before the page, 19 in it, then the notice
    assert "datang sangat cepat" in flooded[-1]
    assert sum("datang sangat cepat" in text for text in flooded) == 1
    assert len(neighbour.heard()) == 2


def test_a_sixth_report_within_an_hour_waits_with_its_draft_kept(db: Database) -> None:
    clock = Clock()
    engine = engine_at(db, clock, sender_reports_per_hour=5)
    reporter = Person(engine, db, "+6281200000003")
    for _ in range(5):
        report_by(reporter, clock)
    report_by(reporter, clock)
    told, asked_again = reporter.heard()[-2:]
    clock.advance(3600)
    reporter.send("kirim")

    with db.transaction() as session:
        codes = session.scalars(select(Report.code)).all()
    assert "5 laporan dalam satu jam" in told
    assert "Kirim laporan ini?" in asked_again
    # Sent once the hour has passed, from the draft that was kept.
    assert len(codes) == 6
    assert any("Kode laporan" in text for text in reporter.heard()[-3:])


def test_erasing_a_pioneer_stops_their_alerts_and_forgets_their_name(db: Database) -> None:
    clock = Clock()
    with db.transaction() as session:
        session.add(
            Contact(
                name="Pordam Wiryawan", role="pelopor", region_code="35.09", telegram_chat_id=PIONEER_CHAT
            )
        )
    engine = engine_at(db, clock)
    pioneer = Person(engine, db, PIONEER_CHAT, channel="telegram")
    pioneer.send("/hapusdata")
    asked = pioneer.heard()[-1]
    pioneer.send("ya hapus")
    report_by(Person(engine, db, "+6281200000004"), clock)

    with db.transaction() as session:
        [contact] = session.scalars(select(Contact)).all()
        to_pioneer = session.scalars(
            select(OutboxMessage).where(OutboxMessage.contact_id == contact.id)
        ).all()
    assert "tidak lagi menerima peringatan" in asked
    assert (contact.name, contact.telegram_chat_id, contact.active) == ("(dihapus)", None, False)
    assert to_pioneer == []


def test_reporters_details_go_retention_days_after_their_report_closed(db: Database) -> None:
    clock = Clock()
    engine = engine_at(db, clock)
    closed_long_ago, closed_lately, still_open = (Person(engine, db, f"+628120000001{n}") for n in range(3))
    for person in (closed_long_ago, closed_lately, still_open):
        report_by(person, clock)
    with db.transaction() as session:
        reports = {r.reporter.address: r for r in session.scalars(select(Report))}
        for person, days_ago in ((closed_long_ago, 91), (closed_lately, 10)):
            report = reports[person.address]
            lifecycle.move(session, report, CLOSED, now=clock.now)
            report.status_changed_at = clock.now - timedelta(days=days_ago)
            report.reporter.last_inbound_at = clock.now - timedelta(days=days_ago)
        reports[still_open.address].reporter.last_inbound_at = clock.now - timedelta(days=200)

    housekeep(db, retention_days=90)
    housekeep(db, retention_days=90)  # twice, as two processes would: no harm

    with db.transaction() as session:
        addresses = sorted(c.address for c in session.scalars(select(Conversation)))
        kept = [(r.may_contact, r.reporter.erased_at is not None) for r in session.scalars(select(Report))]
    erased = [a for a in addresses if a.startswith("erased:")]
    assert len(erased) == 1
    assert closed_lately.address in addresses and still_open.address in addresses
    assert closed_long_ago.address not in addresses
    # Every report stays; the erased reporter's can no longer reach them.
    assert sorted(kept) == [(False, False), (False, False), (False, True)]


def test_erasing_deletes_the_photos_and_voice_notes_the_reporter_sent(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    voice = tmp_path / "in-suara.ogg"
    voice.write_bytes(b"OggS a voice that could be recognised")
    clock = Clock()
    engine = engine_at(db, clock)
    address = "+6281200000031"
    for answer in FULL_REPORT[:5]:
        engine.handle(Inbound("whatsapp", address, f"v-{answer}", text=answer))
    engine.handle(Inbound("whatsapp", address, "v-voice", media=Media("voice", "audio/ogg", str(voice))))
    for n, answer in enumerate(FULL_REPORT[6:]):
        engine.handle(Inbound("whatsapp", address, f"v-rest-{n}", text=answer))
    with db.transaction() as session:
        sent_with = session.scalars(select(Report.media)).one()
    engine.handle(Inbound("whatsapp", address, "v-erase", text="hapus data"))
    engine.handle(Inbound("whatsapp", address, "v-yes", text="iya"))

    with db.transaction() as session:
        kept = session.scalars(select(Report.media)).one()
        paths = session.scalars(select(Document.path)).all()
    assert len(sent_with) == 1
    assert kept == [] and paths == [""]
    assert not voice.exists()


def test_a_number_or_chat_id_is_shown_partly_never_whole() -> None:
    assert masked_address("+6281298765432") == "+62812*****432"
    assert masked_address("734019283") == "73****283"
    assert masked_address("5001") == "****"


def test_the_erasure_is_confirmed_in_the_language_the_person_chose(db: Database) -> None:
    clock = Clock()
    person = Person(engine_at(db, clock), db, "+6281200000041")
    person.send("/bahasa en", "/hapusdata", "yes")
    assert "Your data has been erased" in person.heard()[-1]
