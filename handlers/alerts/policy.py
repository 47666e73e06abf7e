"""The settings alert routing depends on, gathered once per process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from handlers.severity import URGENT


@dataclass(frozen=True)
class Policy:
    """What routing depends on: response timeouts, the WhatsApp template, channels that cannot send."""

    ack_timeout_seconds: int = 7200
    ack_timeout_urgent_seconds: int = 1800
    whatsapp_template: str = ""
    # Channels the bot has no settings for, each with the settings it lacks (see Settings.missing_to_send).
    unavailable: Mapping[str, str] = field(default_factory=dict)
    # The province or regency the bot serves (HOME_REGION): its places come first when a name is ambiguous.
    home_region: str = ""
    # An unfinished report gets one reminder after this long without an answer (DRAFT_REMIND_MINUTES).
    draft_remind_minutes: int = 30
    # Pioneers: invitations last INVITE_TTL_HOURS; check-ins follow CHECKIN_SCHEDULE (cron, Asia/Jakarta).
    invite_ttl_hours: int = 72
    checkin_schedule: str = "0 8 * * 1"
    checkin_reminder_hours: int = 24
    # Whoever holds an open report is reminded every FOLLOWUP_HOURS; coordinators told after a few.
    followup_hours: int = 24
    followup_escalate_after: int = 3
    # WhatsApp templates for check-in questions and reminders outside the 24-hour window.
    checkin_template: str = ""
    # Where exports and charts are written (MEDIA_DIR).
    media_dir: str = "media"
    # The bot's own WhatsApp number, told in invitations (TWILIO_WHATSAPP_FROM without "whatsapp:").
    whatsapp_number: str = ""
    reminder_template: str = ""
    # UU PDP: RETENTION_DAYS; and the per-sender limits against floods.
    retention_days: int = 90
    sender_messages_per_minute: int = 20
    sender_reports_per_hour: int = 5

    @property
    def draft_reminder(self) -> timedelta:
        return timedelta(minutes=self.draft_remind_minutes)

    def timeout(self, level: str) -> timedelta:
        """How long contacts have to acknowledge before the alert climbs a level."""
        urgent = level in URGENT
        return timedelta(seconds=self.ack_timeout_urgent_seconds if urgent else self.ack_timeout_seconds)
