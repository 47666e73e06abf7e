"""One settings object, read from the environment or a `.env` file, so every part of the bot agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from dotenv import dotenv_values

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
# Schedules such as CHECKIN_SCHEDULE are read in the time most contacts live by (WIB).
JAKARTA = "Asia/Jakarta"

# Settings each channel cannot start without, in the order they are reported.
REQUIRED_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "console": (),
    "telegram-poll": ("TELEGRAM_BOT_TOKEN",),
    "telegram-webhook": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"),
    "whatsapp": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM", "PUBLIC_URL"),
    "sms": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM", "PUBLIC_URL"),
}
# Settings a process needs to send on a channel, whatever it receives on.
REQUIRED_TO_SEND: dict[str, tuple[str, ...]] = {
    "telegram": ("TELEGRAM_BOT_TOKEN",),
    "whatsapp": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM"),
    "sms": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_SMS_FROM"),
}
# Twilio's channels share the account; each is wanted when its own sender number is given.
TWILIO_SENDERS = {"whatsapp": "TWILIO_WHATSAPP_FROM", "sms": "TWILIO_SMS_FROM"}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or allowed[0]
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _cron(env: dict[str, str], name: str, default: str) -> str:
    """A 5-field cron expression, checked now so a typo stops the start with its name."""
    raw = env.get(name, "").strip() or default
    try:
        CronTrigger.from_crontab(raw, timezone=JAKARTA)
    except ValueError as error:
        raise SettingsError(
            f"{name} must be a 5-field cron expression such as '0 8 * * 1', got {raw!r}: {error}"
        ) from None
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    database_url: str = "sqlite:///pelapor.db"
    telegram_bot_token: str = ""
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    telegram_webhook_secret: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_whatsapp_from: str = ""
    # The number SMS go out from, for feature phones (E.164, e.g. +14155550100).
    twilio_sms_from: str = ""
    twilio_api_url: str = DEFAULT_TWILIO_API_URL
    twilio_template_alert: str = ""
    public_url: str = ""
    # The province or regency the bot serves, a Kemendagri code: its places are offered first.
    home_region: str = ""
    # How `serve` receives Telegram: "webhook", or "polling" beside the WhatsApp webhook.
    telegram_updates: str = "webhook"
    port: int = 8000
    telegram_messages_per_second: float = 30.0
    telegram_messages_per_chat_per_second: float = 1.0
    whatsapp_messages_per_second: float = 10.0
    sms_messages_per_second: float = 1.0
    send_max_attempts: int = 8
    outbox_lease_seconds: int = 120
    # The longest a database call may take (or wait for a lock) before the request answers 503.
    db_statement_timeout_seconds: float = 10.0
    send_concurrency: int = 8
    # `poll` runs the engine in a process of its own beside the polling and sending one.
    engine_process: bool = False
    ack_timeout_seconds: int = 7200
    ack_timeout_urgent_seconds: int = 1800
    draft_remind_minutes: int = 30
    invite_ttl_hours: int = 72
    # When every active pioneer is asked how their area is: 5-field cron, Asia/Jakarta time.
    checkin_schedule: str = "0 8 * * 1"
    checkin_reminder_hours: int = 24
    followup_hours: int = 24
    followup_escalate_after: int = 3
    twilio_template_checkin: str = ""
    twilio_template_reminder: str = ""
    # Where exports and charts are written before they are sent (and served to Twilio at /media/...).
    media_dir: str = "media"
    # The largest photo, voice note or video kept from a message, in megabytes.
    media_max_mb: float = 16.0
    # A reporter's details are erased this many days after their last report closed (UU PDP).
    retention_days: int = 90
    # Per sender: messages a minute before the bot stops answering for a while, and reports an hour.
    sender_messages_per_minute: int = 20
    sender_reports_per_hour: int = 5
    log_level: str = "INFO"

    @classmethod
    def load(cls, env_file: str | Path | None = ".env", environ: dict[str, str] | None = None) -> Settings:
        """Read settings; the real environment wins over the `.env` file."""
        env: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        env.update(os.environ if environ is None else environ)
        return cls(
            database_url=env.get("DATABASE_URL") or cls.database_url,
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN", ""),
            telegram_api_url=env.get("TELEGRAM_API_URL") or DEFAULT_TELEGRAM_API_URL,
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_whatsapp_from=env.get("TWILIO_WHATSAPP_FROM", ""),
            twilio_sms_from=env.get("TWILIO_SMS_FROM", ""),
            twilio_api_url=env.get("TWILIO_API_URL") or DEFAULT_TWILIO_API_URL,
            twilio_template_alert=env.get("TWILIO_TEMPLATE_ALERT", ""),
            public_url=env.get("PUBLIC_URL", "").rstrip("/"),
            home_region=env.get("HOME_REGION", "").strip(),
            telegram_updates=_choice(env, "TELEGRAM_UPDATES", ("webhook", "polling")),
            port=_int(env, "PORT", 8000),
            telegram_messages_per_second=_float(env, "TELEGRAM_MESSAGES_PER_SECOND", 30.0),
            telegram_messages_per_chat_per_second=_float(env, "TELEGRAM_MESSAGES_PER_CHAT_PER_SECOND", 1.0),
            whatsapp_messages_per_second=_float(env, "WHATSAPP_MESSAGES_PER_SECOND", 10.0),
            sms_messages_per_second=_float(env, "SMS_MESSAGES_PER_SECOND", 1.0),
            send_max_attempts=_int(env, "SEND_MAX_ATTEMPTS", 8),
            outbox_lease_seconds=_int(env, "OUTBOX_LEASE_SECONDS", 120),
            db_statement_timeout_seconds=_float(env, "DB_STATEMENT_TIMEOUT_SECONDS", 10.0),
            send_concurrency=_int(env, "SEND_CONCURRENCY", 8),
            engine_process=_choice(env, "ENGINE_PROCESS", ("0", "1")) == "1",
            ack_timeout_seconds=_int(env, "ACK_TIMEOUT_SECONDS", 7200),
            ack_timeout_urgent_seconds=_int(env, "ACK_TIMEOUT_URGENT_SECONDS", 1800),
            draft_remind_minutes=_int(env, "DRAFT_REMIND_MINUTES", 30),
            invite_ttl_hours=_int(env, "INVITE_TTL_HOURS", 72),
            checkin_schedule=_cron(env, "CHECKIN_SCHEDULE", "0 8 * * 1"),
            checkin_reminder_hours=_int(env, "CHECKIN_REMINDER_HOURS", 24),
            followup_hours=_int(env, "FOLLOWUP_HOURS", 24),
            followup_escalate_after=_int(env, "FOLLOWUP_ESCALATE_AFTER", 3),
            twilio_template_checkin=env.get("TWILIO_TEMPLATE_CHECKIN", ""),
            twilio_template_reminder=env.get("TWILIO_TEMPLATE_REMINDER", ""),
            media_dir=env.get("MEDIA_DIR") or "media",
            media_max_mb=_float(env, "MEDIA_MAX_MB", 16.0),
            retention_days=_int(env, "RETENTION_DAYS", 90),
            sender_messages_per_minute=_int(env, "SENDER_MESSAGES_PER_MINUTE", 20),
            sender_reports_per_hour=_int(env, "SENDER_REPORTS_PER_HOUR", 5),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
        )

    def require(self, channel: str) -> None:
        """Stop early, naming the first missing setting, rather than fail on the first message."""
        for name in REQUIRED_BY_CHANNEL[channel]:
            if not getattr(self, name.lower()):
                raise SettingsError(f"{name} is not set; it is needed for {channel}. See .env.example.")

    def missing_to_send(self) -> dict[str, str]:
        """Each channel this process cannot send on, with the settings it lacks, as alert-log shows it."""
        gaps = {}
        for channel, names in REQUIRED_TO_SEND.items():
            missing = [name for name in names if not getattr(self, name.lower())]
            if missing:
                gaps[channel] = f"{channel} is not set up: {', '.join(missing)} not set"
        return gaps

    def sending_channels(self) -> list[str]:
        """The channels every process sends on: those whose settings are all given.

        Half a channel's settings is a mistake worth stopping for, not a reason to drop its messages.
        """
        channels = []
        twilio_numbers = [name for name in TWILIO_SENDERS.values() if getattr(self, name.lower())]
        for channel, names in REQUIRED_TO_SEND.items():
            own = TWILIO_SENDERS.get(channel)
            if own and twilio_numbers and own not in twilio_numbers:
                continue  # the account serves the other Twilio channel only
            given = [name for name in names if getattr(self, name.lower())]
            if given and len(given) < len(names):
                missing = next(name for name in names if name not in given)
                raise SettingsError(
                    f"{missing} is not set; {channel} needs {', '.join(names)} to send. See .env.example."
                )
            if given:
                channels.append(channel)
        return channels

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def sms_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_sms_from)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_whatsapp_from)
