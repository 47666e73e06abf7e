"""The tables: who talks to the bot, what they said, what they reported, and what is waiting to be sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

# Report statuses, in the order a report moves through them.
RECEIVED = "received"
ACKNOWLEDGED = "acknowledged"
VERIFIED = "verified"
FALSE_REPORT = "false"
HANDLING = "handling"
CLOSED = "closed"

# Contact roles.
PELOPOR = "pelopor"
FKDM = "fkdm"
KOORDINATOR = "koordinator"
ROLES = (PELOPOR, FKDM, KOORDINATOR)

# How a pioneer says their area is, at a check-in; MISSED when they never answered.
AMAN, WASPADA_AREA, RAWAN, MISSED = "aman", "waspada", "rawan", "missed"

# Outbox statuses.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"


class Conversation(Base):
    """One person on one channel: their language and where they are in a flow."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2), default="id")
    language_chosen: Mapped[bool] = mapped_column(default=False)
    # Set once the first free text was checked for English, so the offer is made at most once.
    language_checked: Mapped[bool] = mapped_column(default=False)
    flow: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_inbound_at: Mapped[datetime | None]
    # Invitation codes guessed wrong in a row from this address, and when the last was: guessing is throttled.
    wrong_codes: Mapped[int] = mapped_column(default=0, server_default="0")
    wrong_code_at: Mapped[datetime | None]
    # Set when the person's data was erased (by /hapusdata or after RETENTION_DAYS); the address is gone.
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundMessage(Base):
    """The provider's id of every message handled, so a redelivery is handled once; no text is kept."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        # A sender's messages in the last minute, counted for the per-sender limit.
        Index("ix_inbound_conversation_received", "conversation_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(80))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """A pioneer, forum member or coordinator, responsible for one region at any level."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(String(16), index=True)
    telegram_chat_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    whatsapp: Mapped[str | None] = mapped_column(String(20), unique=True)
    # A number reached by SMS: a feature phone, or a phone without data.
    sms: Mapped[str | None] = mapped_column(String(20), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @classmethod
    def address_on(cls, channel: str) -> Any:
        """The column holding a contact's address on a channel; None for channels contacts are not on."""
        return {"telegram": cls.telegram_chat_id, "whatsapp": cls.whatsapp, "sms": cls.sms}.get(channel)


class Report(Base):
    """What a citizen reported; the reporter is only a link to their conversation, never copied here."""

    __tablename__ = "reports"
    # A region's picture: its reports of the last days (handlers/coordinators/summary.py).
    __table_args__ = (Index("ix_reports_region_created", "region_code", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    category: Mapped[str] = mapped_column(String(24))
    region_code: Mapped[str] = mapped_column(String(16), index=True)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    occurred: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    # The description with names, numbers and ids masked (lokal-id), made once for alerts and exports.
    masked_description: Mapped[str | None] = mapped_column(Text)
    people: Mapped[str] = mapped_column(String(16))
    danger_signs: Mapped[list[str]] = mapped_column(JSON, default=list)
    vulnerable_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    photo_ref: Mapped[str | None] = mapped_column(String(500))
    # The photos, voice notes and videos the reporter sent with it: ids of documents.
    media: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")
    anonymous: Mapped[bool] = mapped_column(default=True)
    may_contact: Mapped[bool] = mapped_column(default=False)
    level: Mapped[str] = mapped_column(String(8))
    level_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=RECEIVED)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    reporter: Mapped[Conversation] = relationship()


class Incident(Base):
    """Reports of one thing: same kecamatan, same category, within hours; alerted and acknowledged as one."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_open", "district_code", "category", "last_report_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_code: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(24))
    level: Mapped[str] = mapped_column(String(8))
    # The highest region level alerted so far: 3 kecamatan, 2 kabupaten/kota, 1 province, 0 coordinators told.
    reach: Mapped[int] = mapped_column(default=3)
    report_count: Mapped[int] = mapped_column(default=1)
    reporter_count: Mapped[int] = mapped_column(default=1)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    acknowledged_at: Mapped[datetime | None]
    # Follow-up reminders sent to the holder since the last change; the coordinators are told after a few.
    followups: Mapped[int] = mapped_column(default=0, server_default="0")
    first_report_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_report_at: Mapped[datetime] = mapped_column(default=utcnow)

    reports: Mapped[list[Report]] = relationship(order_by="Report.id", foreign_keys="Report.incident_id")


class Recipient(Base):
    """A contact who has been alerted about an incident: who got it, at which reach, and when."""

    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("incident_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    reach: Mapped[int]
    alerted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Timer(Base):
    """Something to do at a time, kept in the database so a restart loses nothing and it fires once."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "fired_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    # For reminders about an unfinished report: whose draft it is.
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    # For check-in reminders: which question is waiting for an answer.
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id"), index=True)
    # For a broadcast's summary to the coordinator who sent it.
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WaitingMessage(Base):
    """A webhook's message stored before it is handled, so the provider hears back at once; then deleted."""

    __tablename__ = "inbox"
    __table_args__ = (
        # Each person's waiting messages, to take them in order (bot/inbox.py).
        Index("ix_inbox_person", "address", "channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    # The message as handlers.messages.Inbound, text included, only until it is handled.
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A message to send; written with the change that caused it, sent later by the dispatcher."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The dispatcher takes the most urgent due messages first (see handlers/outbox.py).
        Index("ix_outbox_priority", "status", "priority", "id"),
        # The dispatcher looks up each person's oldest unsent message, to keep their messages in order.
        Index("ix_outbox_person", "address", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(String(16), default="reply")
    # 0 goes first: a reply to someone who just wrote; then urgent alerts, other alerts, bulk.
    priority: Mapped[int] = mapped_column(default=2, server_default="2")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(32))
    # A pre-approved WhatsApp template, for contacts outside the 24-hour window.
    template_sid: Mapped[str | None] = mapped_column(String(64))
    template_variables: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    # A file sent with the text: an export or a chart (handlers/documents.py).
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class EarlyDeliveryReport(Base):
    """A Twilio delivery report that came before its message's id was stored; applied when it is."""

    __tablename__ = "early_delivery_reports"

    provider_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class SendBudget(Base):
    """One channel's rate limit shared by every process on the database: the next free moment to send.

    The generic cell rate algorithm needs one number per limit; a single UPDATE advances it, so processes
    take turns by row lock for microseconds. Seconds since the epoch by the database's own clock.
    """

    __tablename__ = "send_budget"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Float, default=0.0)


class ReportEvent(Base):
    """One step in a report's life: its new status, the note with it, and the contact who moved it."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # For an assignment by a coordinator: the contact who now holds the report.
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """A single-use code that makes whoever sends it a contact with a role and region, or links a channel."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Capital letters and digits without the hyphen, as codes are compared.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # Set for a code from /hubungkan: the contact whose other channel it joins.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))


class Checkin(Base):
    """A pioneer asked how their area is, and their answer: aman, waspada, rawan, or missed."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_contact_open", "contact_id", "answered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    region_code: Mapped[str] = mapped_column(String(16), index=True)
    # The coordinator who asked with /cekwilayah; None for the schedule or the pioneer's own /checkin.
    asked_by: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminded_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class Schedule(Base):
    """A cron schedule's last round, so a round runs once however many processes watch the clock."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_due_at: Mapped[datetime | None]


class AuditEntry(Base):
    """A coordinator's command: who, what, on what, when; kept for accountability, never logged."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    command: Mapped[str] = mapped_column(String(32))
    argument: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Broadcast(Base):
    """A coordinator's message to the pioneers (and forum members) of a region, summed up afterwards."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    region_code: Mapped[str] = mapped_column(String(16))
    with_forum: Mapped[bool] = mapped_column(default=False)
    text: Mapped[str] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    summarized_at: Mapped[datetime | None]


class Document(Base):
    """A file made for someone (an export, a chart), kept on disk and served by an unguessable token."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    # secrets.token_urlsafe(32): the only key to the file at /media/<token>, for Twilio to fetch.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # For what people send: photo, voice or video; who sent it (erased with their data); and Telegram's
    # file id, so Telegram contacts get the file resent without an upload.
    kind: Mapped[str | None] = mapped_column(String(16))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    telegram_file_id: Mapped[str | None] = mapped_column(String(200))
